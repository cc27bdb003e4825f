"""Profiles files, profile selection and the planner that fits the ladder to a source."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from common.jobs import SourceInfo
from common.ladder import (
    DEFAULT_LADDER,
    LadderError,
    Profile,
    RenditionPlan,
    load_ladder,
    plan_renditions,
    select_profiles,
)


def source(width: int = 1920, height: int = 1080, codec: str = "h264",
           bitrate: int | None = 4000, pix_fmt: str | None = "yuv420p") -> SourceInfo:
    return SourceInfo(duration=10.0, width=width, height=height, video_codec=codec, fps=25.0,
                      has_audio=True, bitrate_kbps=bitrate, pix_fmt=pix_fmt)


def sizes(plans: list[RenditionPlan]) -> list[tuple[str, int, int]]:
    return [(p.profile.name, p.width, p.height) for p in plans]


def test_default_ladder() -> None:
    assert load_ladder(None) == DEFAULT_LADDER
    assert [(p.name, p.height) for p in DEFAULT_LADDER] == [
        ("1080p", 1080), ("720p", 720), ("480p", 480)]
    assert all(p.maxrate_kbps > p.video_bitrate_kbps for p in DEFAULT_LADDER)


def test_json_profiles_file_with_defaults_for_maxrate_and_bufsize(tmp_path: Path) -> None:
    path = tmp_path / "ladder.json"
    path.write_text(json.dumps({"profiles": [
        {"name": "360p", "height": 360, "video_bitrate_kbps": 1000, "preset": "veryfast"},
        {"name": "low-1", "height": 144, "video_bitrate_kbps": 200, "maxrate_kbps": 250,
         "bufsize_kbps": 400, "audio_bitrate_kbps": 48, "crf": 23},
    ]}))
    first, second = load_ladder(path)
    assert first == Profile("360p", 360, 1000, maxrate_kbps=1070, bufsize_kbps=1500,
                            preset="veryfast")
    assert second == Profile("low-1", 144, 200, maxrate_kbps=250, bufsize_kbps=400,
                             audio_bitrate_kbps=48, crf=23)


def test_toml_profiles_file(tmp_path: Path) -> None:
    path = tmp_path / "ladder.toml"
    path.write_text('[[profiles]]\nname = "540p"\nheight = 540\nvideo_bitrate_kbps = 2000\n\n'
                    '[[profiles]]\nname = "270p"\nheight = 270\nvideo_bitrate_kbps = 500\n'
                    'h264_profile = "main"\n')
    ladder = load_ladder(path)
    assert [(p.name, p.height, p.maxrate_kbps, p.bufsize_kbps) for p in ladder] == [
        ("540p", 540, 2140, 3000), ("270p", 270, 535, 750)]
    assert ladder[1].h264_profile == "main"


@pytest.mark.parametrize("content, fragment", [
    ('{"ladder": []}', "no 'profiles' list"),
    ('{"profiles": []}', "no 'profiles' list"),
    ('{"profiles": {"name": "a"}}', "no 'profiles' list"),
    ('[1, 2]', "no 'profiles' list"),
    ('{"profiles": ["720p"]}', "table of settings"),
    ('{"profiles": [{"name": "a", "height": 240}]}', "needs name, height and video_bitrate"),
    ('{"profiles": [{"name": "a", "height": "tall", "video_bitrate_kbps": 300}]}',
     "needs name, height and video_bitrate"),
    ('{"profiles": [{"name": "a", "height": 8, "video_bitrate_kbps": 300}]}', "unusable"),
    ('{"profiles": [{"name": "a", "height": -240, "video_bitrate_kbps": 300}]}', "unusable"),
    ('{"profiles": [{"name": "a/b", "height": 240, "video_bitrate_kbps": 300}]}', "unusable"),
    ('{"profiles": [{"name": "audio", "height": 240, "video_bitrate_kbps": 300}]}',
     "taken by the job's audio rendition"),
    ('{"profiles": [{"name": "a", "height": 240, "video_bitrate_kbps": 300, "bit_depth": 10}]}',
     "10-bit H.264 plays on almost no device"),
    ('{"profiles": [{"name": "a", "height": 240, "video_bitrate_kbps": 300, "codec": "hevc", '
     '"bit_depth": 12}]}', "bit_depth is 8 or 10, not 12"),
    ('{"profiles": [{"name": "a", "height": 240, "video_bitrate_kbps": 300},'
     ' {"name": "a", "height": 144, "video_bitrate_kbps": 150}]}', "names a profile twice"),
])
def test_unusable_profiles_files_raise_ladder_error_sentences(
        tmp_path: Path, content: str, fragment: str) -> None:
    path = tmp_path / "ladder.json"
    path.write_text(content)
    with pytest.raises(LadderError) as caught:
        load_ladder(path)
    assert fragment in str(caught.value)
    assert str(caught.value).endswith(".")


@pytest.mark.parametrize("name, content", [("missing.json", None), ("bad.json", "{nope"),
                                           ("bad.toml", "profiles = [")])
def test_unreadable_files_raise_ladder_error(tmp_path: Path, name: str,
                                             content: str | None) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    with pytest.raises(LadderError, match="Cannot read the profiles file"):
        load_ladder(path)


def test_missing_file_message_is_a_sentence(tmp_path: Path) -> None:
    with pytest.raises(LadderError) as caught:
        load_ladder(tmp_path / "missing.json")
    assert str(caught.value).endswith(".")


def test_non_numeric_maxrate_is_a_ladder_error(tmp_path: Path) -> None:
    path = tmp_path / "ladder.json"
    path.write_text(json.dumps({"profiles": [
        {"name": "a", "height": 240, "video_bitrate_kbps": 300, "maxrate_kbps": "fast"}]}))
    with pytest.raises(LadderError):
        load_ladder(path)


def test_select_profiles() -> None:
    assert select_profiles(DEFAULT_LADDER, None) == DEFAULT_LADDER
    assert select_profiles(DEFAULT_LADDER, []) == DEFAULT_LADDER
    chosen = select_profiles(DEFAULT_LADDER, ["480p", "1080p"])
    assert [p.name for p in chosen] == ["1080p", "480p"]  # ladder order, not request order


def test_unknown_profile_names_list_what_is_offered() -> None:
    with pytest.raises(LadderError) as caught:
        select_profiles(DEFAULT_LADDER, ["720p", "4k", "8k"])
    message = str(caught.value)
    assert "4k, 8k" in message and "720p;" not in message
    assert "1080p, 480p, 720p" in message
    assert message.endswith(".")


def test_plans_never_upscale() -> None:
    assert sizes(plan_renditions(source(1280, 720), DEFAULT_LADDER)) == [
        ("720p", 1280, 720), ("480p", 854, 480)]
    assert sizes(plan_renditions(source(3840, 2160), DEFAULT_LADDER)) == [
        ("1080p", 1920, 1080), ("720p", 1280, 720), ("480p", 854, 480)]


@pytest.mark.parametrize("width, height, expected", [
    (320, 240, (320, 240)), (321, 241, (320, 240)), (2, 1, (2, 2)), (427, 240, (428, 240)),
])
def test_source_below_every_rung_gets_one_rendition_at_its_own_even_size(
        width: int, height: int, expected: tuple[int, int]) -> None:
    [plan] = plan_renditions(source(width, height, codec="hevc"), DEFAULT_LADDER)
    assert plan.profile == min(DEFAULT_LADDER, key=lambda p: p.height)
    assert (plan.width, plan.height) == expected
    assert plan.passthrough is False


@pytest.mark.parametrize("width, height, expected", [
    (1918, 1080, [("1080p", 1918, 1080), ("720p", 1278, 720), ("480p", 852, 480)]),
    (720, 576, [("480p", 600, 480)]),
    (1080, 1920, [("1080p", 608, 1080), ("720p", 404, 720), ("480p", 270, 480)]),
    (1919, 1081, [("1080p", 1918, 1080), ("720p", 1278, 720), ("480p", 852, 480)]),
])
def test_aspect_is_kept_with_even_sizes(width: int, height: int,
                                        expected: list[tuple[str, int, int]]) -> None:
    plans = plan_renditions(source(width, height, codec="vp9"), DEFAULT_LADDER)
    assert sizes(plans) == expected
    for plan in plans:
        assert plan.width % 2 == 0 and plan.height % 2 == 0
        assert abs(plan.width - width * plan.height / height) <= 1


def test_copy_when_the_source_already_is_the_rung() -> None:
    plans = plan_renditions(source(1280, 720, bitrate=2500), DEFAULT_LADDER)
    assert [(p.profile.name, p.passthrough) for p in plans] == [("720p", True), ("480p", False)]


@pytest.mark.parametrize("why, info", [
    ("bitrate unknown", source(1280, 720, bitrate=None)),
    ("bitrate above the cap", source(1280, 720, bitrate=2996 + 128 + 1)),
    ("another codec", source(1280, 720, codec="hevc", bitrate=2000)),
    ("10-bit pixels", source(1280, 720, bitrate=2000, pix_fmt="yuv420p10le")),
    ("odd width", source(1281, 720, bitrate=2000)),
])
def test_no_copy_when_the_source_does_not_fit(why: str, info: SourceInfo) -> None:
    assert [p.passthrough for p in plan_renditions(info, DEFAULT_LADDER)] == [False, False], why


def test_copy_for_a_small_h264_source_below_every_rung() -> None:
    [plan] = plan_renditions(source(320, 240, bitrate=300), DEFAULT_LADDER)
    assert (plan.profile.name, plan.width, plan.height, plan.passthrough) == (
        "480p", 320, 240, True)


def test_passthrough_mode_gives_one_source_plan() -> None:
    info = source(1918, 1080, codec="hevc", bitrate=None)
    [plan] = plan_renditions(info, DEFAULT_LADDER, passthrough_mode=True)
    assert plan.passthrough is True
    assert (plan.width, plan.height) == (1918, 1080)
    assert plan.profile.name == "source"
    lowest = DEFAULT_LADDER[-1]
    # The copy keeps the source's codec (so its MP4 tag and verification follow it).
    assert plan.profile.to_dict() == {**lowest.to_dict(), "name": "source", "codec": "hevc"}



def _ladder_file(tmp_path: Path, *profiles: dict[str, object]) -> Path:
    path = tmp_path / "ladder.json"
    path.write_text(json.dumps({"profiles": list(profiles)}))
    return path


def test_profiles_name_their_codec_with_per_codec_preset_defaults(tmp_path: Path) -> None:
    ladder = load_ladder(_ladder_file(
        tmp_path,
        {"name": "av1-720p", "height": 720, "video_bitrate_kbps": 1500, "codec": "AV1"},
        {"name": "hevc-720p", "height": 720, "video_bitrate_kbps": 1800, "codec": "hevc",
         "preset": "fast"},
        {"name": "480p", "height": 480, "video_bitrate_kbps": 1000},
    ))
    assert [(p.codec, p.preset) for p in ladder] == [("av1", "8"), ("hevc", "fast"),
                                                     ("h264", "medium")]


@pytest.mark.parametrize(("entry", "words"), [
    ({"codec": "vp9"}, "Unknown codec 'vp9'; a profile's codec is one of h264, hevc, av1"),
    ({"codec": "av1", "preset": "medium"}, "libsvtav1 has no preset 'medium'"),
    ({"codec": "hevc", "preset": "9"}, "libx265 has no preset '9'"),
])
def test_a_codec_or_preset_no_encoder_takes_is_refused_at_load(
    tmp_path: Path, entry: dict[str, object], words: str
) -> None:
    path = _ladder_file(tmp_path, {"name": "x", "height": 360, "video_bitrate_kbps": 500,
                                   **entry})
    with pytest.raises(LadderError, match=re.escape(words)):
        load_ladder(path)


def test_a_source_is_copied_only_into_a_rung_of_its_own_codec() -> None:
    hevc_rung = Profile("360p", 360, 800, 856, 1200, codec="hevc")
    h264_rung = Profile("360p", 360, 800, 856, 1200)
    hevc_source = source(640, 360, codec="hevc", bitrate=500)
    assert plan_renditions(hevc_source, (hevc_rung,))[0].passthrough is True
    assert plan_renditions(hevc_source, (h264_rung,))[0].passthrough is False
