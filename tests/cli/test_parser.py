"""The ``ffcluster`` argparse tree and how ``main`` reports bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli.main import main
from cli.parser import COMMANDS, build_parser


def test_every_command_is_a_subcommand() -> None:
    parser = build_parser()
    operands = {"submit": ["f.mp4"], "watch": ["inbox"]}
    for command in COMMANDS:
        assert parser.parse_args([command, *operands.get(command, [])]).command == command


def test_up_options() -> None:
    args = build_parser().parse_args(
        ["up", "--host", "0.0.0.0", "--port", "5001", "--workers", "3", "--gpu", "off",
         "--flower", "--flower-port", "5556", "--data-dir", "/tmp/x"]
    )
    assert (args.host, args.port, args.concurrency, args.gpu) == ("0.0.0.0", 5001, 3, "off")
    assert (args.flower, args.flower_port, args.data_dir) == (True, 5556, Path("/tmp/x"))


def test_up_defaults_leave_settings_alone() -> None:
    args = build_parser().parse_args(["up"])
    assert (args.host, args.port, args.concurrency, args.gpu, args.data_dir) == (None,) * 5
    assert (args.flower, args.flower_port, args.grace) == (False, 5555, 10.0)


def test_worker_and_web_options() -> None:
    parser = build_parser()
    worker = parser.parse_args(["worker", "--gpu", "on", "--concurrency", "2", "--name", "enc"])
    assert (worker.gpu, worker.concurrency, worker.worker_name) == ("on", 2, "enc")
    web = parser.parse_args(["web", "--host", "0.0.0.0", "--port", "8000", "--async-mode",
                             "eventlet"])
    assert (web.host, web.port, web.async_mode) == ("0.0.0.0", 8000, "eventlet")


def test_submit_options() -> None:
    args = build_parser().parse_args(
        ["submit", "a.mp4", "b.mov", "--profiles", "720p,480p", "--mode", "passthrough",
         "--wait", "--json", "--url", "http://h:1", "--token", "t"]
    )
    assert args.files == ["a.mp4", "b.mov"]
    assert (args.profiles, args.mode, args.wait, args.json) == ("720p,480p", "passthrough",
                                                                True, True)
    assert (args.url, args.token) == ("http://h:1", "t")


@pytest.mark.parametrize("argv", [
    ["up", "--workers", "0"], ["up", "--port", "70000"], ["worker", "--gpu", "maybe"],
    ["web", "--async-mode", "asyncio"], ["submit"], ["submit", "x", "--mode", "fast"], [],
])
def test_bad_arguments_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(argv)
    assert exc.value.code == 2
    assert "usage: ffcluster" in capsys.readouterr().err


def test_bad_setting_is_one_sentence(monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("FFCLUSTER_CONCURRENCY", "lots")
    assert main(["status"]) == 2
    assert capsys.readouterr().err == (
        "ffcluster: FFCLUSTER_CONCURRENCY must be a number, not 'lots'.\n"
    )


def test_submit_of_a_missing_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["submit", str(tmp_path / "nope.mp4")]) == 2
    assert capsys.readouterr().err == f"ffcluster: No such file: {tmp_path / 'nope.mp4'}.\n"
