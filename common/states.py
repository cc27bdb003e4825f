"""The job and rendition state machines: states, the moves allowed, and what each move stamps.

The tables below are the only statement of which transitions exist. The job store
checks every write against them (:meth:`StateMachine.check`), so a late duplicate task
or a hand-written record can never move a job backwards; an illegal move raises
:class:`IllegalTransition`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Generic, TypeVar


class JobState(StrEnum):
    QUEUED = "queued"
    INGESTING = "ingesting"
    """A worker is fetching the source from its URL."""
    PROBING = "probing"
    ANALYZING = "analyzing"
    """A per-title job: a worker samples the source to choose the ladder's bitrates."""
    ENCODING = "encoding"
    DONE = "done"
    FAILED = "failed"
    CANCELED = "canceled"


class RenditionState(StrEnum):
    QUEUED = "queued"
    ENCODING = "encoding"
    DONE = "done"
    FAILED = "failed"
    CANCELED = "canceled"


S = TypeVar("S", JobState, RenditionState)


class IllegalTransition(Exception):
    """A write that would move a job or rendition along no edge of its state machine."""


@dataclass(frozen=True)
class Effect:
    """What a transition does besides changing the state."""

    sets: tuple[str, ...] = ()
    """Timestamp fields set to now."""
    clears: tuple[str, ...] = ()
    """Fields set back to None."""
    by_user: bool = False
    """Only an explicit user action (retry) may make this move, never a worker."""

    def apply(self, record: Any, now: float) -> None:
        for name in self.sets:
            setattr(record, name, now)
        for name in self.clears:
            setattr(record, name, None)


START = Effect(sets=("started_at",))
FINISH = Effect(sets=("finished_at",))
RETRY = Effect(clears=("finished_at",), by_user=True)
NOTHING = Effect()


@dataclass(frozen=True)
class StateMachine(Generic[S]):
    name: str
    initial: S
    transitions: dict[tuple[S, S], Effect]

    @property
    def terminal(self) -> frozenset[S]:
        """States with no way out but a user's retry."""
        states = {state for pair in self.transitions for state in pair}
        return frozenset(s for s in states
                         if all(e.by_user for (a, _), e in self.transitions.items() if a == s))

    @property
    def final(self) -> frozenset[S]:
        """States with no way out at all."""
        states = {state for pair in self.transitions for state in pair}
        return frozenset(s for s in states if not any(a == s for a, _ in self.transitions))

    def allowed(self, source: S, target: S, *, by_user: bool = False) -> bool:
        if source == target:
            return True
        effect = self.transitions.get((source, target))
        return effect is not None and (by_user or not effect.by_user)

    def check(self, source: S, target: S, *, by_user: bool = False,
              subject: str = "") -> Effect:
        """Return the move's effect, or raise :class:`IllegalTransition`."""
        if source == target:
            return NOTHING
        if not self.allowed(source, target, by_user=by_user):
            raise IllegalTransition(f"{self.name} {subject} cannot move from {source} to "
                                    f"{target}".replace("  ", " "))
        return self.transitions[(source, target)]

    def stamp(self, record: Any, source: S, *, by_user: bool = False, subject: str = "",
              now: float | None = None) -> None:
        """Check ``record``'s move from ``source`` and apply its effect to the record."""
        effect = self.check(source, record.state, by_user=by_user, subject=subject)
        effect.apply(record, time.time() if now is None else now)


J, R = JobState, RenditionState

JOB_MACHINE: StateMachine[JobState] = StateMachine("job", J.QUEUED, {
    (J.QUEUED, J.PROBING): NOTHING,
    (J.QUEUED, J.INGESTING): NOTHING,    # a source URL: a worker fetches it first
    (J.INGESTING, J.QUEUED): NOTHING,    # fetched and stored; the probe takes it from here
    (J.INGESTING, J.FAILED): FINISH,     # refused, unreachable, too large or too slow
    (J.INGESTING, J.CANCELED): FINISH,
    (J.QUEUED, J.FAILED): FINISH,        # the queue was unreachable
    (J.QUEUED, J.CANCELED): FINISH,
    (J.PROBING, J.ENCODING): NOTHING,    # probed and planned
    (J.PROBING, J.FAILED): FINISH,       # not a video we can encode
    (J.PROBING, J.CANCELED): FINISH,
    (J.PROBING, J.ANALYZING): NOTHING,   # probed; a per-title job samples it first
    (J.ANALYZING, J.ENCODING): NOTHING,  # the ladder is chosen
    (J.ANALYZING, J.FAILED): FINISH,
    (J.ANALYZING, J.CANCELED): FINISH,
    (J.ENCODING, J.DONE): FINISH,        # finalized
    (J.ENCODING, J.FAILED): FINISH,
    (J.ENCODING, J.CANCELED): FINISH,
    (J.FAILED, J.QUEUED): RETRY,
    (J.CANCELED, J.QUEUED): RETRY,
})

RENDITION_MACHINE: StateMachine[RenditionState] = StateMachine("rendition", R.QUEUED, {
    (R.QUEUED, R.ENCODING): START,       # an attempt began
    (R.QUEUED, R.FAILED): FINISH,        # out of attempts before starting again
    (R.QUEUED, R.CANCELED): FINISH,
    (R.ENCODING, R.QUEUED): NOTHING,     # its worker died: the reaper queued it again
    (R.ENCODING, R.DONE): FINISH,
    (R.ENCODING, R.FAILED): FINISH,
    (R.ENCODING, R.CANCELED): FINISH,
    (R.FAILED, R.QUEUED): RETRY,
    (R.CANCELED, R.QUEUED): RETRY,
})

JOB_TERMINAL = JOB_MACHINE.terminal
JOB_FINAL = frozenset({J.DONE, J.CANCELED})
"""States a job never leaves by any worker's write (canceled only by a user's retry)."""
RENDITION_TERMINAL = RENDITION_MACHINE.terminal
