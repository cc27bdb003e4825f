"""The encode-renditions step: whole renditions of a job with one decode, each leased."""

from __future__ import annotations

import time

from common.jobs import JobMode
from common.ladder import AUDIO_RENDITION, RenditionPlan
from common.storage import Workspace
from common.workref import WorkRef
from workers.ffmpeg.encode import EncodeTarget, codec_chain
from workers.runtime.context import WorkerContext
from workers.runtime.lease import Lease
from workers.steps import attempt, layout, record
from workers.steps.finalize import finalize_when_complete
from workers.steps.leased import Outcome, run_leased
from workers.steps.publish import publish


def run_renditions(ctx: WorkerContext, job_id: str, profiles: list[str],
                   task_id: str | None) -> tuple[Outcome, list[str]]:
    """Encode the given renditions of a job together, each at most once cluster-wide.

    Returns the outcome and the profiles another live worker holds (left to it).
    """
    refs = [WorkRef.rendition(job_id, p) for p in profiles]

    def work(ws: Workspace, leases: dict[WorkRef, Lease]) -> Outcome:
        return _encode(ctx, ws, job_id,
                       {str(ref.profile): lease for ref, lease in leases.items()})

    outcome, busy = run_leased(ctx, refs, task_id, work,
                               then=lambda: finalize_when_complete(ctx, job_id))
    return outcome, [str(ref.profile) for ref in busy]


def _encode(ctx: WorkerContext, ws: Workspace, job_id: str,
            leases: dict[str, Lease]) -> Outcome:
    try:
        job, active = attempt.begin(ctx, job_id, list(leases), leases)
        carrier = job.audio_carrier
        targets = [EncodeTarget(record.plan_of(r), ws.path(layout.mp4_key(job_id, r.profile)),
                                ws.path(layout.hls_key(job_id, r.profile)) if job.hls else None,
                                ws.path(layout.hls_key(job_id, AUDIO_RENDITION))
                                if r.profile == carrier else None)
                   for r in active]
        copy = all(t.plan.passthrough for t in targets)
        codecs = codec_chain(RenditionPlan(targets[0].plan.profile, 0, 0, copy),
                             record.hardware_for(ctx, active[0]),
                             copy_only=job.mode == JobMode.PASSTHROUGH)
        this = attempt.Attempt(job_id, [r.profile for r in active], leases, ws, codecs)
        started = time.monotonic()
        results = attempt.encode(ctx, job, this, targets)
        publish(ctx, job, this, results, seconds=time.monotonic() - started)
    except attempt.AttemptEnded as ended:
        return ended.outcome
    return Outcome.DONE
