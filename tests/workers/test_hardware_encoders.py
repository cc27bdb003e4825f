"""Hardware encoder discovery on this machine (listed is not working) and worker GPU tagging."""

from __future__ import annotations

import ctypes

import pytest

from common.codecs import all_hardware_encoders
from common.settings import Settings
from workers.ffmpeg.encoders import (
    check_encode_command,
    ffmpeg_version,
    listed_hardware_encoders,
    probe_hardware_encoders,
    software_codecs,
    try_encoder,
)
from workers.runtime import heartbeat, node
from workers.runtime.context import WorkerContext

LISTED = listed_hardware_encoders()


def libcuda_loads() -> bool:
    try:
        ctypes.CDLL("libcuda.so.1")
    except OSError:
        return False
    return True


needs_nvenc = pytest.mark.skipif("h264_nvenc" not in LISTED,
                                 reason="this FFmpeg build does not list h264_nvenc")
needs_no_cuda = pytest.mark.skipif(libcuda_loads(), reason="libcuda.so.1 loads on this machine: "
                                   "these tests are about a machine without an NVIDIA driver")


def test_listed_encoders_are_known_hardware_ones_in_preference_order() -> None:
    assert [e for e in all_hardware_encoders() if e in LISTED] == LISTED
    assert not [e for e in LISTED if e.endswith("_videotoolbox")]  # Linux


def test_this_ffmpeg_has_a_software_encoder_for_every_codec() -> None:
    # Debian 12's FFmpeg: libx264, libx265 and libsvtav1 (the chains' last links).
    assert [c.value for c in software_codecs()] == ["h264", "hevc", "av1"]


@needs_nvenc
@needs_no_cuda
def test_hevc_hardware_encoders_fail_here_with_ffmpegs_line() -> None:
    working, failures = probe_hardware_encoders()
    hevc = [e for e in LISTED if e.startswith("hevc_")]
    assert hevc and not [e for e in working if e.startswith("hevc_")]
    assert failures["hevc_nvenc"] == "Cannot load libcuda.so.1"
    assert all(failures[e] and "@ 0x" not in failures[e] for e in hevc)


@needs_nvenc
@needs_no_cuda
def test_nvenc_is_listed_but_does_not_work_here() -> None:
    working, failures = probe_hardware_encoders()
    assert working == []
    assert set(failures) == set(LISTED)
    assert failures["h264_nvenc"] == "Cannot load libcuda.so.1"
    assert all(error and "@ 0x" not in error for error in failures.values())


def test_unknown_encoder_reports_ffmpeg_error_line() -> None:
    error = try_encoder("no_such_encoder")
    assert error is not None and "no_such_encoder" in error


def test_check_encode_command_is_a_tiny_real_encode() -> None:
    argv = check_encode_command("h264_vaapi")
    assert argv[argv.index("-c:v") + 1] == "h264_vaapi"
    assert "-init_hw_device" in argv and "format=nv12,hwupload" in argv
    assert "format=nv12,hwupload" in check_encode_command("hevc_vaapi")
    assert "-init_hw_device" not in check_encode_command("h264_nvenc")


def test_ffmpeg_version() -> None:
    version = ffmpeg_version()
    assert version and "Copyright" not in version and not version.startswith("ffmpeg")


def context(gpu: str) -> WorkerContext:
    return WorkerContext(Settings.from_env({}, gpu=gpu))


def test_gpu_off_does_not_probe(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: object) -> None:
        raise AssertionError("gpu=off must not probe hardware encoders")

    monkeypatch.setattr(node, "probe_hardware_encoders", refuse)
    ctx = context("off")
    assert node.tag_worker(ctx) is False
    assert (ctx.gpu_tagged, ctx.hardware_encoders, ctx.hardware_failures) == (False, [], {})
    assert ctx.ffmpeg_version == ffmpeg_version()


@needs_nvenc
@needs_no_cuda
def test_gpu_auto_leaves_this_machine_untagged() -> None:
    ctx = context("auto")
    assert node.tag_worker(ctx) is False
    assert (ctx.gpu_tagged, ctx.hardware_encoders) == (False, [])
    assert "libcuda" in ctx.hardware_failures["h264_nvenc"]
    info = heartbeat.worker_info(ctx, ["cpu"])
    assert (info.gpu, info.encoders, info.queues) == (
        False, ["libx264", "libx265", "libsvtav1"], ["cpu"])
    assert info.codecs == ["h264", "hevc", "av1"]


@needs_nvenc
@needs_no_cuda
def test_gpu_on_tags_with_every_listed_encoder() -> None:
    ctx = context("on")
    assert node.tag_worker(ctx) is True
    assert ctx.gpu_tagged is True
    assert ctx.hardware_encoders == LISTED
    assert set(ctx.hardware_failures) == set(LISTED)
    info = heartbeat.worker_info(ctx, ["cpu", "gpu"])
    assert info.gpu is True
    # None of them works: only software is advertised.
    assert info.encoders == ["libx264", "libx265", "libsvtav1"]
    assert info.hw_failures == ctx.hardware_failures
