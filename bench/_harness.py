"""Helpers shared by the HTTP, ingest and start-up benchmarks: run `jobmatch serve` as the docs
say (a subprocess with JOBMATCH_* variables), wait for /readyz, make an agency and keys, and
describe the machine. Not a benchmark itself."""

from __future__ import annotations

import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
JOBMATCH = str(BIN / "jobmatch")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_data_dir() -> Path:
    """A data directory the embedded PostgreSQL (another user when we are root) can enter."""
    path = Path(tempfile.mkdtemp(prefix="jobmatch-bench-"))
    path.chmod(0o755)
    return path


def server_env(data_dir: Path, port: int, **settings: object) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        HF_HUB_OFFLINE="1",
        JOBMATCH_DATA_DIR=str(data_dir),
        JOBMATCH_PORT=str(port),
        JOBMATCH_LOG_LEVEL="WARNING",
        JOBMATCH_RATE_LIMIT_PER_MINUTE="0",  # throughput runs: no per-key limit
    )
    env.update({f"JOBMATCH_{k.upper()}": str(v) for k, v in settings.items()})
    return env


class Server:
    """`jobmatch serve` in a subprocess; `ready_seconds` is the time from spawn to /readyz 200."""

    def __init__(self, env: dict[str, str], *, timeout: float = 300.0) -> None:
        self.env = env
        self.base = f"http://127.0.0.1:{env['JOBMATCH_PORT']}"
        started = time.perf_counter()
        self.proc = subprocess.Popen([JOBMATCH, "serve"], env=env, cwd=ROOT, start_new_session=True)
        try:
            self.ready_seconds = wait_ready(self.base, started, timeout, self.proc)
        except BaseException:
            self.stop()  # not left running on a data directory about to be removed
            raise

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def wait_ready(
    base: str, started: float, timeout: float, proc: Any = None, path: str = "/readyz"
) -> float:
    with httpx.Client(timeout=2.0) as client:
        while time.perf_counter() - started < timeout:
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode}")
            try:
                if client.get(f"{base}{path}").status_code == 200:
                    return time.perf_counter() - started
            except httpx.TransportError:
                pass
            time.sleep(0.05)
    raise TimeoutError(f"{base} not ready after {timeout} s")


def create_agency(env: dict[str, str], name: str) -> str:
    """A new agency; returns its admin key (through the CLI, as an operator would)."""
    out = subprocess.run(
        [JOBMATCH, "agency", "create", name],
        env=env,
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    match = re.search(r"(jm_\S+)", out)
    if match is None:
        raise RuntimeError(f"no key in: {out}")
    return match.group(1)


def create_key(base: str, admin_key: str, role: str) -> str:
    r = httpx.post(
        f"{base}/v1/api-keys",
        json={"name": f"bench-{role}", "role": role},
        headers={"Authorization": f"Bearer {admin_key}"},
    )
    r.raise_for_status()
    return str(r.json()["secret"])


def machine() -> str:
    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    import torch

    return (
        f"{cpu}, {os.cpu_count()} cores, {mem_gb:.0f} GiB RAM, no GPU; Python "
        f"{platform.python_version()}, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads), {platform.system()} {platform.release()}"
    )


def remove_data_dir(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
