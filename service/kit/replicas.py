"""Read replicas: reads that may be a little behind go to a streaming replica, everything else
to the primary.

**Which replica, if any.** A monitor polls every replica once a second: is it up, in recovery
(a standby), how far its replay is behind the primary (in seconds: how long ago the primary
had first written WAL that the replica has not replayed yet, from the primary's own LSN sampled
at every poll). A replica that is down, or further behind than `JOBMATCH_READ_REPLICA_MAX_LAG_
SECONDS`, is skipped until a poll finds it well again; with none left, reads go to the primary.

**Read-your-writes.** Each API key's *floor* is kept in process memory: the primary's WAL
position (`pg_current_wal_lsn()`) after the last request of that key the primary answered
(every write, and every read served there). A replica serves that key only once its replay
position (`pg_last_wal_replay_lsn()`) has reached the floor, asked on the connection itself when
the last poll had not seen it; otherwise the primary does. A floor is forgotten once every
replica has passed it.

**Never an error for a replica's sake.** A read runs as a function of its source (`read`). On a
replica it is run again on the primary when the replica fails (connection refused or lost, a
query cancelled by recovery), when it lags behind the key's floor, and when its answer is an
error (a 404 for a record created by another key a moment ago): an error is only ever the
primary's answer. The function must therefore only read from the source it is given; what it
writes goes to the primary (and must not happen before anything that can fail on the replica).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit
from uuid import UUID

import asyncpg
from prometheus_client import Counter, Gauge
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.kit.pool import DATABASE_UNAVAILABLE
from service.kit.problems import ProblemError

log = logging.getLogger("jobmatch.replicas")
T = TypeVar("T")

POLL_SECONDS = 1.0
REPLICA_CHECK = "replica "  # how /readyz names a replica's line
UNREACHABLE = 2**63 - 1  # a floor no replica reaches
HISTORY_SECONDS = 600.0  # primary positions kept to date a replica's lag

LAG = Gauge(
    "jobmatch_db_replica_lag_seconds",
    "How far each read replica's replay is behind the primary (-1: not known, down)",
    ["replica"],
    multiprocess_mode="livemax",
)
LAG_BYTES = Gauge(
    "jobmatch_db_replica_lag_bytes",
    "WAL the primary has written that each read replica has not replayed yet",
    ["replica"],
    multiprocess_mode="livemax",
)
UP = Gauge(
    "jobmatch_db_replica_up",
    "1 when a read replica answers, is a standby and is within the lag allowed",
    ["replica"],
    multiprocess_mode="livemin",
)
READS = Counter(
    "jobmatch_db_reads",
    "Reads that may use a replica, by the database that served them (primary or a replica)",
    ["served_by"],
)
FALLBACKS = Counter(
    "jobmatch_db_replica_fallbacks",
    "Reads a replica could have served that went to the primary, by reason: none (no replica "
    "usable), behind (not yet at the key's own writes), failed (connection or query failed), "
    "answer (an error answer, confirmed by the primary), stale (a write refused what the "
    "replica read)",
    ["reason"],
)


class ReplicaUnavailable(Exception):
    """The replica could not lend a connection (refused, unreachable, misconfigured, full)."""


# What a replica may do that says nothing about the request: it is down, restarting,
# unreachable, full, or cancelled a query to replay WAL (a recovery conflict, SQLSTATE 40001).
REPLICA_FAILURES: tuple[type[BaseException], ...] = (
    ReplicaUnavailable,
    *DATABASE_UNAVAILABLE,
    asyncpg.exceptions.SerializationError,
)


class Acquirer(Protocol):
    """A pool, or a ReadSource: `acquire()` lends a connection."""

    def acquire(self) -> Any: ...


class AskPrimary(Exception):
    """Raised by a read on a replica that must be answered by the primary instead."""


def replica_name(url: str, index: int) -> str:
    """A label for metrics and /readyz: its number and where it is, never its credentials."""
    parts = urlsplit(url)
    where = parts.hostname or ""
    if parts.port:
        where += f":{parts.port}"
    return f"{index}" + (f" ({where})" if where else "")


@dataclass
class Replica:
    number: int
    name: str
    pool: asyncpg.Pool
    up: bool = False
    in_recovery: bool = True
    replay_lsn: int = 0  # the highest replay position seen
    lag_s: float | None = None
    lag_bytes: int | None = None
    problem: str | None = "not checked yet"  # why it is not used; None when usable

    @property
    def label(self) -> str:
        return str(self.number)

    def failed(self, exc: BaseException) -> None:
        self.up = False
        cause = exc.__cause__ if isinstance(exc, ReplicaUnavailable) and exc.__cause__ else exc
        self.problem = f"down ({type(cause).__name__})"
        UP.labels(self.label).set(0)
        LAG.labels(self.label).set(-1)


@dataclass
class RequestReads:
    """What one request did, read by ReadYourWrites when it answers."""

    from_replica: bool = False  # some of its reads were served by a replica
    wrote: bool = False  # ... and it wrote on the primary too (a match list)


_REQUEST: ContextVar[RequestReads | None] = ContextVar("jobmatch_request_reads", default=None)


def mark_written() -> None:
    """This request wrote on the primary: the key's floor is taken as it answers."""
    current = _REQUEST.get()
    if current is not None:
        current.wrote = True


@dataclass
class Replicas:
    """The primary pool, the read replicas, the monitor and the keys' floors."""

    primary: asyncpg.Pool
    replicas: list[Replica] = field(default_factory=list)
    max_lag_s: float = 5.0
    floors: dict[UUID, int] = field(default_factory=dict)
    history: deque[tuple[float, int]] = field(default_factory=deque)  # (monotonic, primary LSN)
    monitor: asyncio.Task[None] | None = None
    _turn: itertools.count[int] = field(default_factory=itertools.count)

    @property
    def enabled(self) -> bool:
        return bool(self.replicas)

    # --- choosing
    def usable(self) -> list[Replica]:
        return [r for r in self.replicas if r.up and r.problem is None]

    def pick(self) -> Replica | None:
        usable = self.usable()
        return usable[next(self._turn) % len(usable)] if usable else None

    # --- reading
    async def read(
        self, fn: Callable[[ReadSource], Awaitable[T]], *, key_id: UUID | None = None
    ) -> T:
        """`fn` run on a replica that has the key's own writes, else on the primary (see the
        module's docstring for when a replica's run is done again on the primary)."""
        replica = self.pick() if self.enabled else None
        if replica is None:
            if self.enabled:
                FALLBACKS.labels("none").inc()
            return await self._on_primary(fn)
        source = ReadSource(self.primary, replica, self.floors, key_id)
        try:
            result = await fn(source)
        except AskPrimary:
            FALLBACKS.labels("behind").inc()
        except asyncpg.ForeignKeyViolationError:
            # A write on the primary refused what was read (a record deleted meanwhile).
            FALLBACKS.labels("stale").inc()
        except ProblemError:
            FALLBACKS.labels("answer").inc()
        except REPLICA_FAILURES as exc:
            # A statement timeout is the query's own slowness: the primary would time out too.
            if source.failed_on_replica and not isinstance(exc, asyncpg.QueryCanceledError):
                replica.failed(exc)
                log.warning(
                    "read replica %s failed (%s); reading from the primary",
                    replica.name,
                    type(exc).__name__,
                )
                FALLBACKS.labels("failed").inc()
            else:
                raise  # the primary's own failure
        else:
            READS.labels(replica.label).inc()
            request = _REQUEST.get()
            if request is not None:
                request.from_replica = True
            return result
        return await self._on_primary(fn)

    async def _on_primary(self, fn: Callable[[ReadSource], Awaitable[T]]) -> T:
        result = await fn(ReadSource(self.primary, None, self.floors, None))
        READS.labels("primary").inc()
        return result

    # --- floors (read-your-writes)
    async def record_floor(self, key_id: UUID) -> None:
        """Remember where the primary's WAL is now, as the least a replica must have replayed
        to serve this key."""
        async with self.primary.acquire() as conn:
            lsn = await current_lsn(conn)
        # Two requests of one key may answer in either order: the floor only rises (an unknown
        # one is replaced by the first position known again).
        previous = self.floors.get(key_id, 0)
        self.floors[key_id] = lsn if previous == UNREACHABLE else max(previous, lsn)

    def unknown_floor(self, key_id: UUID) -> None:
        """The floor could not be taken: the key reads from the primary until it can."""
        self.floors[key_id] = UNREACHABLE

    def _forget_passed_floors(self) -> None:
        if not self.replicas or not self.floors:
            return
        passed = min(r.replay_lsn for r in self.replicas)
        for key_id in [k for k, lsn in self.floors.items() if lsn <= passed]:
            del self.floors[key_id]

    # --- monitoring
    def start(self) -> None:
        if self.enabled and self.monitor is None:
            self.monitor = asyncio.create_task(self._watch())

    async def close(self) -> None:
        if self.monitor is not None:
            self.monitor.cancel()
            await asyncio.gather(self.monitor, return_exceptions=True)
        for replica in self.replicas:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(replica.pool.close(), 5)

    async def _watch(self) -> None:
        while True:
            try:
                await self.poll()
            except Exception as exc:  # the primary did not answer: the next poll tries again
                log.warning("replica check failed: %s", type(exc).__name__)
            await asyncio.sleep(POLL_SECONDS)

    async def poll(self) -> None:
        """Sample the primary's WAL position, then ask every replica where its replay is."""
        async with asyncio.timeout(2), self.primary.acquire() as conn:
            primary_lsn = await current_lsn(conn)
        now = time.monotonic()
        self.history.append((now, primary_lsn))
        while self.history and self.history[0][0] < now - HISTORY_SECONDS:
            self.history.popleft()
        await asyncio.gather(*(self._check(r, primary_lsn) for r in self.replicas))
        self._forget_passed_floors()

    async def _check(self, replica: Replica, primary_lsn: int) -> None:
        try:
            async with asyncio.timeout(2), replica.pool.acquire() as conn:
                in_recovery, replay = await replay_position(conn)
        except Exception as exc:  # whatever it is, reads cannot use this replica now
            replica.failed(exc)
            return
        replica.up, replica.in_recovery = True, in_recovery
        if not in_recovery or replay is None:
            # Promoted, or not a standby at all: what it holds may differ from the primary.
            replica.problem, replica.lag_s, replica.lag_bytes = "not a standby", None, None
            UP.labels(replica.label).set(0)
            LAG.labels(replica.label).set(-1)
            return
        replica.replay_lsn = max(replica.replay_lsn, replay)
        replica.lag_bytes = max(0, primary_lsn - replay)
        replica.lag_s = self.lag_seconds(replay)
        replica.problem = (
            f"lagging ({replica.lag_s:.1f} s behind)" if replica.lag_s > self.max_lag_s else None
        )
        UP.labels(replica.label).set(1 if replica.problem is None else 0)
        LAG.labels(replica.label).set(replica.lag_s)
        LAG_BYTES.labels(replica.label).set(replica.lag_bytes)

    def lag_seconds(self, replay: int) -> float:
        """How long ago the primary had first written WAL beyond `replay` (0 when the replica
        has everything the primary had at the last poll): its staleness, to a poll's accuracy,
        whether or not the primary is busy."""
        now = time.monotonic()
        for sampled_at, lsn in self.history:
            if lsn > replay:
                return now - sampled_at
        return 0.0

    def status(self) -> dict[str, str]:
        """One line per replica for /readyz: "ok (0.0 s behind)", or why reads skip it."""
        lines = {}
        for r in self.replicas:
            if r.problem is None:
                lines[REPLICA_CHECK + r.name] = f"ok ({r.lag_s or 0.0:.1f} s behind)"
            else:
                lines[REPLICA_CHECK + r.name] = f"{r.problem}; reads go to the primary"
        return lines


class ReadSource:
    """Where a read runs: a replica (which must have reached the key's floor) or the primary."""

    def __init__(
        self,
        primary: asyncpg.Pool,
        replica: Replica | None,
        floors: dict[UUID, int],
        key_id: UUID | None,
    ) -> None:
        self.primary = primary
        self.replica = replica
        self.floors = floors
        self.key_id = key_id
        self.failed_on_replica = False

    @property
    def on_replica(self) -> bool:
        return self.replica is not None

    @contextlib.asynccontextmanager
    async def acquire(self) -> AsyncIterator[asyncpg.Connection]:
        """A connection of the replica, once it has reached the key's floor (else AskPrimary);
        or of the primary."""
        if self.replica is None:
            async with self.primary.acquire() as conn:
                yield conn
            return
        lent = False
        try:
            async with self.replica.pool.acquire() as conn:
                lent = True
                if self.key_id is not None:
                    await self.ensure_caught_up(conn, self.key_id)
                yield conn
        except REPLICA_FAILURES:
            # Failed while a replica's connection was taken or held: the replica's fault.
            self.failed_on_replica = True
            raise
        except Exception as exc:
            if lent:
                raise  # the read's own error (an error answer, a bug): the caller decides
            self.failed_on_replica = True  # e.g. a wrong database name or password
            raise ReplicaUnavailable(type(exc).__name__) from exc

    async def ensure_caught_up(self, conn: asyncpg.Connection, key_id: UUID) -> None:
        """On a replica, AskPrimary unless it has replayed up to the key's floor (asked on
        `conn` only when the last poll had not seen it that far)."""
        replica = self.replica
        floor = self.floors.get(key_id, 0)
        if replica is None or floor <= replica.replay_lsn:
            return
        _, replay = await replay_position(conn)
        if replay is not None:
            replica.replay_lsn = max(replica.replay_lsn, replay)
        if replica.replay_lsn < floor:
            raise AskPrimary

    def confirm(self, found: bool) -> None:
        """A read found nothing: on a replica, the primary is asked (it may be a new record)."""
        if not found and self.replica is not None:
            raise AskPrimary


async def current_lsn(conn: asyncpg.Connection) -> int:
    return int(await conn.fetchval("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn"))


async def replay_position(conn: asyncpg.Connection) -> tuple[bool, int | None]:
    """Whether the server is a standby, and how far it has replayed (None on a primary)."""
    row = await conn.fetchrow(
        "SELECT pg_is_in_recovery() AS standby, "
        "(pg_last_wal_replay_lsn() - '0/0'::pg_lsn)::int8 AS replay"
    )
    return bool(row["standby"]), row["replay"]


class ReadYourWrites:
    """Takes the key's floor as a request answers, unless all it read came from a replica and it
    wrote nothing: the next replica read by that key then sees what this request did or saw.
    The floor is taken before the answer leaves, so the client cannot be faster than it."""

    def __init__(self, app: ASGIApp, replicas: Callable[[], Replicas | None]) -> None:
        self.app = app
        self.replicas = replicas

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        replicas = self.replicas() if scope["type"] == "http" else None
        if replicas is None or not replicas.enabled:
            await self.app(scope, receive, send)
            return
        reads = RequestReads()
        token = _REQUEST.set(reads)

        async def answer(message: Message) -> None:
            if message["type"] == "http.response.start" and (not reads.from_replica or reads.wrote):
                principal = (scope.get("state") or {}).get("principal")
                key_id = getattr(principal, "key_id", None)
                if key_id is not None:
                    try:
                        await replicas.record_floor(key_id)
                    except Exception as exc:  # the answer still goes; the key reads the primary
                        replicas.unknown_floor(key_id)
                        log.warning("could not take the key's floor: %s", type(exc).__name__)
            await send(message)

        try:
            await self.app(scope, receive, answer)
        finally:
            _REQUEST.reset(token)
