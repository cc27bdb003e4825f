"""Work refs: one text form, one parse, and what the parse refuses."""

from __future__ import annotations

import pytest

from common import keys
from common.workref import BadWorkRef, WorkKind, WorkRef


@pytest.mark.parametrize("ref, text", [
    (WorkRef.rendition("abc123", "720p"), "abc123/rendition/720p"),
    (WorkRef.chunk("abc123", 3), "abc123/chunk/3"),
    (WorkRef.stitch("abc123", "1080p"), "abc123/stitch/1080p"),
])
def test_format_and_parse_round_trip(ref: WorkRef, text: str) -> None:
    assert str(ref) == text
    assert WorkRef.parse(text) == ref
    assert WorkRef.parse(text.encode()) == ref
    assert keys.lease(ref) == f"ffc:lease:{text}"
    assert keys.reap_lock(ref) == f"ffc:reap:{text}"


def test_kinds_are_distinct_in_every_key() -> None:
    refs = [WorkRef.rendition("j", "3"), WorkRef.chunk("j", 3), WorkRef.stitch("j", "3")]
    assert len({keys.lease(r) for r in refs}) == 3
    assert [r.kind for r in refs] == [WorkKind.RENDITION, WorkKind.CHUNK, WorkKind.STITCH]


@pytest.mark.parametrize("text", [
    "", "abc", "abc/720p", "abc/#3", "abc/~720p", "abc/chunk/x", "abc/chunk/", "abc/nope/1",
    "../x/rendition/720p", "a b/rendition/720p", "abc/rendition/",
])
def test_parse_refuses_what_is_not_a_ref(text: str) -> None:
    with pytest.raises(BadWorkRef):
        WorkRef.parse(text)
