"""`jobmatch serve` run for real, as a subprocess on a data directory of its own, for tests
that need processes (several workers, crashes, signals)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from service.kit import embedded_db
from tests.factories import ROOT, TEST_CACHE_DIR


def wait_for(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


@contextmanager
def server_data_dir(prefix: str) -> Iterator[Path]:
    """A fresh data directory for `jobmatch serve`; afterwards its embedded PostgreSQL (if one
    was left running) is stopped and the directory removed."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)  # as root, PostgreSQL runs as another user that must reach it
    try:
        yield path
    finally:
        pid = embedded_db.postmaster_pid(path)
        if pid is not None:
            os.kill(pid, signal.SIGQUIT)
            wait_for(lambda: not embedded_db.is_our_postmaster(pid, path / "pgdata"), 30, "stop")
        shutil.rmtree(path, ignore_errors=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def server_env(data_dir: Path, port: int, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "HF_HUB_OFFLINE": "1",
        "JOBMATCH_DATA_DIR": str(data_dir),
        # the ESCO label vectors the test session already has (encoding them takes minutes)
        "JOBMATCH_CACHE_DIR": str(TEST_CACHE_DIR),
        "JOBMATCH_PORT": str(port),
        "JOBMATCH_EMBEDDED_SHARED_BUFFERS_MB": "64",
        "JOBMATCH_WARM_POSTING_PROFILES": "false",
        "JOBMATCH_POSTING_VECTORS_IN_MEMORY": "0",
        "JOBMATCH_JOB_POLL_SECONDS": "0.2",
        # no retention job in the agencies' job lists unasked (the schedule has its own tests)
        "JOBMATCH_RETENTION_INTERVAL_SECONDS": "0",
        **extra,
    }
    env.pop("JOBMATCH_DATABASE_URL", None)
    return env


def run_jobmatch(
    *args: str, env: dict[str, str], log: Path | None = None
) -> subprocess.Popen[bytes]:
    out = log.open("ab") if log else subprocess.DEVNULL
    return subprocess.Popen(
        [sys.executable, "-m", "service.cli", *args],
        cwd=ROOT,
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def serve(data_dir: Path, port: int, **extra: str) -> subprocess.Popen[bytes]:
    proc = run_jobmatch(
        "serve", env=server_env(data_dir, port, **extra), log=data_dir / "serve.log"
    )
    wait_ready(proc, port, data_dir)
    return proc


def wait_ready(proc: subprocess.Popen[bytes], port: int, data_dir: Path) -> None:
    def ready() -> bool:
        assert proc.poll() is None, (data_dir / "serve.log").read_text()[-3000:]
        try:
            return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200
        except httpx.HTTPError:
            return False

    wait_for(ready, 180, "the API to be ready")


def portal_key(data_dir: Path, port: int) -> dict[str, str]:
    """A new agency's portal key (made with its first admin key)."""
    out = subprocess.run(
        [sys.executable, "-m", "service.cli", "agency", "create", f"crash-{port}"],
        cwd=ROOT,
        env=server_env(data_dir, port),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    admin = {"Authorization": f"Bearer {out.split('store it now): ')[1].split()[0]}"}
    r = httpx.post(
        f"http://127.0.0.1:{port}/v1/api-keys",
        json={"name": "portal", "role": "portal"},
        headers=admin,
        timeout=30,
    )
    assert r.status_code == 201, (r.status_code, r.text)  # says why, should a key not be made
    return {"Authorization": f"Bearer {r.json()['secret']}"}


def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> int:
    proc.send_signal(sig)
    return proc.wait(timeout=60)


def postgres_of(data_dir: Path) -> list[int]:
    """Every process running `postgres -D <data_dir>/pgdata` (backends show no -D)."""
    pgdata = data_dir / "pgdata"
    return [
        int(p.name)
        for p in Path("/proc").iterdir()
        if p.name.isdigit() and embedded_db.is_our_postmaster(int(p.name), pgdata)
    ]


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid`."""
    found = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                stat = (p / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(p.name))
    return found


def workers_of(pid: int) -> list[int]:
    """The API worker processes of `jobmatch serve` running as `pid`: forked from it (they run
    its command line) or, with JOBMATCH_PREFORK=false, started by uvicorn (multiprocessing's
    spawn_main); multiprocessing's resource tracker is neither."""
    found = []
    for child in children(pid):
        try:
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
        except OSError:
            continue
        if b"spawn_main" in cmdline or b"service.cli" in cmdline:
            found.append(child)
    return found
