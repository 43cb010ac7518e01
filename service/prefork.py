"""Pre-forked workers for `jobmatch serve` with `JOBMATCH_WORKERS` > 1 (`JOBMATCH_PREFORK`,
the default).

Why: uvicorn's own workers are each a fresh interpreter that imports the libraries and loads
the embedding model and the reference data again, about 600 MiB of private memory per worker
whatever the data (bench/README.md, section 13). Here one process imports and loads all that
once, leaves it out of the garbage collector's walks (`gc.freeze`: a collection writes to the
header of every object it visits, which would copy its page into each worker), binds the
listening socket, then forks the workers. They share those pages copy-on-write, and each runs
uvicorn's server on the inherited socket (the kernel hands each connection to one of them).
Everything a worker does at start-up beyond that (database pool, posting vectors, job worker,
metrics) is its app's lifespan, as with uvicorn's workers.

Fork and the model: a forked child inherits none of its parent's threads. A thread pool that
the parent had started (torch's OpenMP threads, started by the first encode) would be gone in
the workers while the library believes it is there, and their first encode could hang. So the
parent never encodes: the ESCO label vectors, when they are not cached yet, are encoded by a
short-lived child that writes the cache file and exits (forked before any thread pool exists,
and the only one to ever run the model in this process tree before the workers); the parent
then maps the file.

Supervision: the parent restarts a worker that exits (at once, or after a pause that doubles
while workers die young), and on SIGTERM / SIGINT stops them all (uvicorn's graceful shutdown:
requests in flight are answered) and returns; a worker still running after
`SHUTDOWN_GRACE_S` is killed.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    import socket

    from matching.embed import Embedder
    from service.app import ReferenceData
    from service.config import Settings

log = logging.getLogger(__name__)

SHUTDOWN_GRACE_S = 30.0
YOUNG_S = 10.0  # a worker that exits sooner than this after its start counts as a failed start
MAX_BACKOFF_S = 30.0
POLL_S = 0.2


def preload(settings: Settings) -> tuple[Embedder, ReferenceData]:
    """The embedding model and the reference data (gazetteer, ESCO text understanding), loaded
    in this process without running the model (see the module)."""
    from service.app import ReferenceData, load_embedder, read_reference_data
    from service.embeddings.understanding import LabelVectorsNotCached
    from service.kit.metrics import MeteredEmbedder

    embedder = MeteredEmbedder(load_embedder(settings))
    try:
        understanding = read_reference_data(settings, embedder, may_encode=False)
    except LabelVectorsNotCached as missing:
        log.info("encoding the ESCO labels in a child process (once per model): %s", missing)
        run_in_child(lambda: read_reference_data(settings, embedder), "encoding the ESCO labels")
        understanding = read_reference_data(settings, embedder, may_encode=False)
    return embedder, ReferenceData(understanding)


def run_in_child(work: Callable[[], object], what: str) -> None:
    """`work` in a forked child process; returns when it has succeeded."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            work()
            code = 0
        except BaseException:
            traceback.print_exc()
        finally:
            _leave(code)
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{what} failed in a child process (see its error above)")


def _leave(code: int) -> NoReturn:
    """End a forked child without the parent's exit handlers (one stops the embedded
    PostgreSQL) or anything else of the parent's call stack."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # a closed stream: nothing left to say
            stream.flush()
    os._exit(code)


class Supervisor:
    """`workers` forked processes serving `app` on one socket (see the module)."""

    def __init__(
        self,
        app: Any,
        settings: Settings,
        *,
        on_exit: Callable[[int], None] = lambda pid: None,
    ) -> None:
        import uvicorn

        self.workers = settings.workers
        self.on_exit = on_exit  # called with the pid of each worker that has exited
        self.config = uvicorn.Config(
            app,
            host=settings.host,
            port=settings.port,
            log_level=settings.log_level.lower(),
            proxy_headers=False,  # as with one worker (no X-Forwarded-* rewriting)
            access_log=False,  # ours (service.kit.middleware.AccessLog) leaves out queries
        )
        self.running: dict[int, float] = {}  # pid -> when it was started (monotonic)
        self.parent = os.getpid()
        self._stop_signal: int | None = None

    def run(self) -> None:
        """Serve until SIGTERM or SIGINT; then stop the workers and return."""
        sock = self.config.bind_socket()
        # uvicorn's event loop, HTTP and WebSocket protocol modules, imported once for all
        self.config.load()
        # What was loaded lives as long as the workers: collect once, then leave it out of
        # every later collection, here and in the workers (see the module).
        gc.collect()
        gc.freeze()
        previous = {
            sig: signal.signal(sig, self._on_stop) for sig in (signal.SIGTERM, signal.SIGINT)
        }
        try:
            for _ in range(self.workers):
                self._start(sock)
            self._watch(sock)
        finally:
            self._stop_all()
            sock.close()
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _on_stop(self, signum: int, frame: object) -> None:
        self._stop_signal = signum

    def _start(self, sock: socket.socket) -> None:
        pid = os.fork()
        if pid == 0:
            self._serve_in_worker(sock)
        self.running[pid] = time.monotonic()
        log.info("worker %d started", pid)

    def _serve_in_worker(self, sock: socket.socket) -> NoReturn:
        import uvicorn

        code = 1
        try:
            # Until uvicorn's own handlers are in place (and after it has restored these and
            # raised the signal it stopped on again): leave quietly.
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, _exit_quietly)
            _stop_with_parent(self.parent)
            uvicorn.Server(self.config).run(sockets=[sock])
            code = 0
        except SystemExit as exc:  # uvicorn's failed start-up; ours above
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:
            traceback.print_exc()
        finally:
            _leave(code)

    def _watch(self, sock: socket.socket) -> None:
        failed_starts = 0
        due: list[float] = []  # when each replacement is to be started
        while self._stop_signal is None:
            for pid, started in list(self.running.items()):
                done, status = os.waitpid(pid, os.WNOHANG)
                if not done:
                    continue
                del self.running[pid]
                self.on_exit(pid)
                young = time.monotonic() - started < YOUNG_S
                failed_starts = failed_starts + 1 if young else 0
                pause = min(0.5 * 2 ** (failed_starts - 1), MAX_BACKOFF_S) if young else 0.0
                log.error(
                    "worker %d %s; starting another%s",
                    pid,
                    _how_it_ended(status),
                    f" in {pause:.1f} s" if pause else "",
                )
                due.append(time.monotonic() + pause)
            for when in sorted(due):
                if when <= time.monotonic() and self._stop_signal is None:
                    due.remove(when)
                    self._start(sock)
            time.sleep(POLL_S)
        log.info("stopping %d workers (%s)", len(self.running), signal.strsignal(self._stop_signal))

    def _stop_all(self) -> None:
        for pid in self.running:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)  # uvicorn's graceful shutdown
        deadline = time.monotonic() + SHUTDOWN_GRACE_S
        while self.running:
            for pid in list(self.running):
                if time.monotonic() > deadline:
                    log.error("worker %d still running after %.0f s: killed", pid, SHUTDOWN_GRACE_S)
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
                elif os.waitpid(pid, os.WNOHANG)[0] == 0:
                    continue
                del self.running[pid]
                self.on_exit(pid)
            time.sleep(POLL_S / 2)


def _stop_with_parent(parent: int) -> None:
    """Have the kernel send this worker SIGTERM when the parent dies (killed -9, it cannot stop
    its workers itself), so that no orphaned worker keeps the port; Linux only."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    pr_set_pdeathsig = 1
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:  # it died before the request was in place
        raise SystemExit(0)


def _exit_quietly(signum: int, frame: object) -> None:
    raise SystemExit(0)


def _how_it_ended(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"was killed by {signal.strsignal(os.WTERMSIG(status))}"
    return f"exited with status {os.waitstatus_to_exitcode(status)}"
