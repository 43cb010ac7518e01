"""The `jobmatch` command: `demo` checks its port before it changes anything; every option of
`demo` is documented."""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

from service import cli


def _demo_parser() -> argparse.ArgumentParser:
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices["demo"]


def test_every_demo_option_is_documented(capsys: pytest.CaptureFixture[str]) -> None:
    demo = _demo_parser()
    options = [a for a in demo._actions if a.option_strings and a.dest != "help"]
    assert {o for a in options for o in a.option_strings} >= {
        "--host",
        "--port",
        "--postings",
        "--seekers",
    }
    for action in options:
        assert action.help and action.help != argparse.SUPPRESS, action.option_strings
    with pytest.raises(SystemExit) as exit_:
        cli.main(["demo", "--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    for action in options:
        assert action.option_strings[0] in text
    assert "revoked" in text and "port is checked first" in text


def test_a_second_demo_on_a_taken_port_changes_nothing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A second `jobmatch demo` used to revoke the running demo's keys, then fail on the port."""
    touched: list[str] = []

    def forbidden(name: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            touched.append(name)
            raise AssertionError(f"{name} ran although the port is taken")

        return call

    import seed.demo
    from service.kit import migrate

    monkeypatch.setattr(migrate, "upgrade", forbidden("migrate"))
    monkeypatch.setattr(seed.demo, "prepare_demo", forbidden("prepare_demo"))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(SystemExit) as exit_:
            cli.main(["demo", "--host", "127.0.0.1", "--port", str(port)])
    assert exit_.value.code == 1 and touched == []
    err = capsys.readouterr().err
    assert f"127.0.0.1:{port}" in err and "Nothing was changed" in err


def test_a_free_port_is_free() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert cli.port_in_use("127.0.0.1", port) is None
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        assert cli.port_in_use("127.0.0.1", taken.getsockname()[1]) is not None


def test_serve_removes_the_metrics_directories_that_killed_servers_left(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    left_by_killed = tmp_path / f"jobmatch-metrics-{ended.pid}-k1ll3d"
    of_running = tmp_path / f"jobmatch-metrics-{os.getppid()}-runn1ng"
    not_ours = tmp_path / "jobmatch-metrics-test-data"
    for directory in (left_by_killed, of_running, not_ours):
        directory.mkdir()
        (directory / "counter_1.db").write_bytes(b"x")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setenv(cli.PROMETHEUS_MULTIPROC_DIR, "")  # restored after the test

    made = Path(cli._shared_metrics_dir() or "")

    assert made.parent == tmp_path and made.name.startswith(f"jobmatch-metrics-{os.getpid()}-")
    assert os.environ[cli.PROMETHEUS_MULTIPROC_DIR] == str(made)
    assert not left_by_killed.exists()
    assert of_running.exists() and not_ours.exists()
