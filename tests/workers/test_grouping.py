"""How a job's renditions are split into fused FFmpeg runs."""

from __future__ import annotations

from common.jobs import Rendition
from workers.steps.dispatch import group_renditions


def _ladder() -> list[Rendition]:
    return [Rendition("1080p", width=1920, height=1080), Rendition("720p", width=1280, height=720),
            Rendition("480p", width=854, height=480)]


def test_one_worker_gets_the_whole_ladder_in_one_ffmpeg() -> None:
    assert group_renditions(_ladder(), workers=1, fuse=True) == [["1080p", "720p", "480p"]]


def test_groups_are_balanced_by_pixels_across_workers() -> None:
    assert group_renditions(_ladder(), workers=2, fuse=True) == [["1080p"], ["720p", "480p"]]
    assert group_renditions(_ladder(), workers=5, fuse=True) == [["1080p"], ["720p"], ["480p"]]


def test_no_worker_online_still_makes_one_group() -> None:
    assert group_renditions(_ladder(), workers=0, fuse=True) == [["1080p", "720p", "480p"]]


def test_stream_copies_stay_alone_and_fusion_can_be_turned_off() -> None:
    renditions = [*_ladder(), Rendition("source", width=640, height=360, passthrough=True)]
    assert group_renditions(renditions, workers=1, fuse=True) == [
        ["source"], ["1080p", "720p", "480p"]]
    assert group_renditions(renditions, workers=1, fuse=False) == [
        ["source"], ["1080p"], ["720p"], ["480p"]]
