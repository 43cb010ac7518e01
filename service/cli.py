"""The `jobmatch` command: serve, demo, migrate, agency, worker, retrain, audit, retention,
report, openapi."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from service.accountability.cli import add_commands as add_accountability_commands
from service.config import Settings, get_settings
from service.scoring_models.cli import add_commands as add_scoring_model_commands

if TYPE_CHECKING:
    pass

OPENAPI_PATH = Path("openapi") / "openapi.json"


def _database_url(settings: Settings) -> str:
    from service.kit.pool import resolve_database_url

    return resolve_database_url(settings)


def cmd_migrate(args: argparse.Namespace) -> None:
    from service.kit import migrate

    url = _database_url(get_settings())
    target = args.revision or ("base" if args.direction == "down" else "head")
    if args.direction == "down":
        migrate.downgrade(url, target)
    else:
        migrate.upgrade(url, target)
    print(f"migrated {args.direction} to {target}")


def cmd_agency_create(args: argparse.Namespace) -> None:
    from service.auth import repository as agencies
    from service.auth.permissions import Role
    from service.kit import migrate
    from service.kit.pool import create_pool

    settings = get_settings()
    url = _database_url(settings)
    migrate.upgrade(url)

    async def run() -> None:
        pool = await create_pool(url, settings)
        try:
            async with pool.acquire() as conn, conn.transaction():
                if await agencies.get_agency_by_name(conn, name=args.name):
                    sys.exit(f"an agency named {args.name!r} already exists")
                agency = await agencies.create_agency(conn, name=args.name)
                key = await agencies.create_api_key(
                    conn, agency_id=agency.id, role=Role.admin, name="first-admin"
                )
        finally:
            await pool.close()
        print(f"agency {agency.name} created: {agency.id}")
        print(f"admin key (shown once, store it now): {key.secret}")

    asyncio.run(run())


def _supervise_embedded(settings: Settings) -> None:
    """Start (or adopt) the embedded PostgreSQL and restart it whenever it dies; it is
    stopped when this process exits (`stop_embedded`, also at interpreter exit)."""
    from service.kit import embedded_db

    if not settings.database_url:
        _database_url(settings)
        embedded_db.supervise(settings.data_dir)


def _serve(app: object, settings: Settings) -> None:
    import uvicorn

    from service.kit.embedded_db import stop_embedded

    # uvicorn shuts down gracefully on SIGTERM, then raises the signal again; with this handler
    # in place that becomes a normal exit, so the embedded PostgreSQL is stopped below.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    try:
        uvicorn.run(
            app,  # type: ignore[arg-type]
            host=settings.host,
            port=settings.port,
            log_level=settings.log_level.lower(),
            proxy_headers=False,
            access_log=False,  # ours (service.middleware.AccessLog) leaves out query strings
        )
    finally:
        stop_embedded()


def _with_address(args: argparse.Namespace) -> Settings:
    """The settings, with --host / --port / --workers (when given) in place of JOBMATCH_HOST /
    _PORT / _WORKERS."""
    settings = get_settings()
    given = (("host", args.host), ("port", args.port), ("workers", getattr(args, "workers", None)))
    update = {k: v for k, v in given if v is not None}
    return settings.model_copy(update=update) if update else settings


def port_in_use(host: str, port: int) -> str | None:
    """Why (host, port) cannot be listened on, or None when it can (checked by binding it, as
    the server will, and letting go at once)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError as exc:
        return f"cannot resolve {host}: {exc.strerror or exc}"
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
        try:
            sock.bind(address)
        except OSError as exc:
            return exc.strerror or str(exc)
    return None


def _require_free_port(settings: Settings) -> None:
    problem = port_in_use(settings.host, settings.port)
    if problem is not None:
        print(
            f"jobmatch: cannot listen on {settings.host}:{settings.port} ({problem}). Is another "
            "jobmatch running? Stop it, or choose another port with --port. Nothing was changed.",
            file=sys.stderr,
        )
        raise SystemExit(1)


# prometheus_client's own variable: where the processes of one server write their metrics.
PROMETHEUS_MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"


def _shared_metrics_dir() -> str | None:
    """Where the workers write their metrics, so that a scrape of any of them adds up all
    (set before they start; they inherit it). An operator's own PROMETHEUS_MULTIPROC_DIR is
    emptied of an earlier run's files; otherwise a fresh directory is made, and returned to be
    removed at exit. Called before the service's modules are imported: prometheus_client
    decides at its import whether this process writes to the directory (pre-forked workers
    inherit this process's metrics)."""
    given = os.environ.get(PROMETHEUS_MULTIPROC_DIR)
    if given:
        for stale in Path(given).glob("*.db"):
            stale.unlink()
        return None
    _remove_orphaned_metrics_dirs(Path(tempfile.gettempdir()))
    made = tempfile.mkdtemp(prefix=f"{_METRICS_DIR_PREFIX}{os.getpid()}-")
    os.environ[PROMETHEUS_MULTIPROC_DIR] = made
    return made


_METRICS_DIR_PREFIX = "jobmatch-metrics-"


def _remove_orphaned_metrics_dirs(parent: Path) -> None:
    """Remove the metrics directories of servers that ended without removing theirs (killed):
    each is named after the pid of the server that made it, and one whose server no longer
    runs is left over. A directory of a running process is kept (also when the pid was reused:
    a directory too many, never one too few)."""
    for found in parent.glob(f"{_METRICS_DIR_PREFIX}*-*"):
        pid = found.name.removeprefix(_METRICS_DIR_PREFIX).split("-", 1)[0]
        if not pid.isdigit() or not found.is_dir() or found.stat().st_uid != os.getuid():
            continue
        if not _running(int(pid)):
            shutil.rmtree(found, ignore_errors=True)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # no signal sent: only whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's
    return True


def cmd_serve(args: argparse.Namespace) -> None:
    settings = _with_address(args)
    _require_free_port(settings)
    metrics_dir = _shared_metrics_dir() if settings.workers > 1 else None

    from service.app import configure_logging, create_app
    from service.kit import migrate
    from service.kit.embedded_db import stop_embedded

    configure_logging(settings)
    try:
        _supervise_embedded(settings)  # this process owns the embedded server: workers attach
        if not args.no_migrate:
            migrate.upgrade(_database_url(settings))
        if settings.workers == 1:
            _serve(create_app(settings), settings)
        elif settings.prefork:
            _serve_preforked(settings)
        else:
            import uvicorn

            # uvicorn's supervisor of the worker processes stops them on SIGTERM / SIGINT and
            # returns; the embedded PostgreSQL is stopped after them.
            uvicorn.run(
                "service.app:worker_app",
                factory=True,
                host=settings.host,
                port=settings.port,
                workers=settings.workers,
                log_level=settings.log_level.lower(),
                proxy_headers=False,  # as with one worker (no X-Forwarded-* rewriting)
                access_log=False,
            )
    finally:
        stop_embedded()
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)


def _serve_preforked(settings: Settings) -> None:
    """Load the model and the reference data here once, then fork the workers (service/
    prefork.py); returns when they have stopped (SIGTERM / SIGINT)."""
    from service import prefork
    from service.app import create_app
    from service.kit import metrics

    if not metrics.multiprocess_values():
        raise RuntimeError(
            "prometheus_client was imported before the metrics directory was chosen: the "
            "workers' metrics would not add up (import it after _shared_metrics_dir)"
        )
    # Until the supervisor's own handlers are in place (loading takes a while): an exit that
    # still stops the embedded PostgreSQL.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    embedder, reference = prefork.preload(settings)
    app = create_app(settings, embedder=embedder, reference=reference)
    prefork.Supervisor(app, settings, on_exit=metrics.process_exited).run()


def cmd_demo(args: argparse.Namespace) -> None:
    from seed.demo import prepare_demo
    from service.app import configure_logging, create_app, load_embedder, load_understanding
    from service.kit import migrate
    from service.kit.pool import create_pool
    from service.state import AppState

    settings = _with_address(args)
    # Before anything else: preparing the demo revokes the previous demo keys, which would cut
    # off a demo still running on this port, and then fail to listen on it.
    _require_free_port(settings)
    configure_logging(settings)
    url = _database_url(settings)
    where = "external" if settings.database_url else f"embedded in {settings.data_dir}"
    print(f"database: {where}")
    _supervise_embedded(settings)
    migrate.upgrade(url)
    print("loading the embedding model ...")
    embedder = load_embedder(settings)

    async def prepare() -> object:
        from matching.score import WeightedSumScorer

        pool = await create_pool(url, settings)
        state = AppState(
            settings=settings, pool=pool, embedder=embedder, scorer=WeightedSumScorer()
        )
        await load_understanding(state)
        try:
            return await prepare_demo(state, postings=args.postings, seekers=args.seekers)
        finally:
            await pool.close()

    print("preparing the demo agency (the first run embeds the demo data, about a minute) ...")
    info = asyncio.run(prepare())
    base = f"http://{settings.host}:{settings.port}"
    print("\n=== jobmatch demo ===")
    print(f"agency: Demo Employment Agency ({info.agency_id})")  # type: ignore[attr-defined]
    for role, secret in info.keys.items():  # type: ignore[attr-defined]
        print(f"  {role.value:<11} key: {secret}")
    portal = info.keys[next(iter(info.keys))]  # type: ignore[attr-defined]
    print(f"\ninteractive docs: {base}/docs")
    print(f'try: curl -H "Authorization: Bearer {portal}" "{base}/v1/postings?limit=5"')
    print(f'     curl -H "Authorization: Bearer {portal}" "{base}/v1/seekers?limit=1"')
    print(
        f'     curl -H "Authorization: Bearer {portal}" "{base}/v1/seekers/<id>/matches?limit=10"'
    )
    print("\nThis service uses the ESCO classification of the European Commission.\n", flush=True)
    _serve(create_app(settings, embedder=embedder), settings)


def cmd_worker(args: argparse.Namespace) -> None:
    """Drain the job queue (next to, or instead of, the API processes' own workers)."""
    from service.background_jobs.worker import run_worker
    from service.offline import offline_state
    from service.tasks import HANDLERS, IDLE, PERIODIC

    async def run() -> None:
        async with offline_state() as state:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            print("worker running; Ctrl-C to stop", flush=True)
            await run_worker(
                state,
                handlers=HANDLERS,
                stop=stop,
                poll_seconds=state.settings.job_poll_seconds,
                stale_seconds=state.settings.job_stale_seconds,
                schedule=PERIODIC,
                idle=IDLE,
            )

    asyncio.run(run())


def cmd_openapi(args: argparse.Namespace) -> None:
    from service.app import create_app

    spec = create_app(get_settings()).openapi()
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(spec, indent=2, sort_keys=False) + "\n")
    print(f"wrote {out}")


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {value}")
    return value


def _address_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--host", default=None, help="address to listen on (default: JOBMATCH_HOST, 127.0.0.1)"
    )
    p.add_argument(
        "--port", type=int, default=None, help="port to listen on (default: JOBMATCH_PORT, 8000)"
    )


DEMO_DESCRIPTION = """Prepare a demo agency and serve it.

The embedded PostgreSQL (or JOBMATCH_DATABASE_URL), migrations, an agency
"Demo Employment Agency" with one fresh key per role (printed once; the previous demo keys are
revoked), generated seekers and postings from real ESCO occupations (embedded on the first run,
about a minute on two cores, then reused from JOBMATCH_DATA_DIR), then the API with interactive
docs at /docs. The port is checked first: when it is taken, nothing is changed."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jobmatch", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser(
        "serve", help="run the API (embedded PostgreSQL unless JOBMATCH_DATABASE_URL)"
    )
    p.add_argument("--no-migrate", action="store_true", help="do not run migrations first")
    _address_options(p)
    p.add_argument(
        "--workers",
        type=_positive,
        default=None,
        help="API worker processes (default: JOBMATCH_WORKERS, 1); see JOBMATCH_PREFORK",
    )
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser(
        "demo",
        help="demo agency, keys and data, then serve (127.0.0.1:8000 by default)",
        description=DEMO_DESCRIPTION,
        epilog="Other settings come from JOBMATCH_* environment variables (README, Configuration).",
    )
    p.add_argument(
        "--postings",
        type=int,
        default=300,
        help="demo postings to generate on the first run (default: %(default)s)",
    )
    p.add_argument(
        "--seekers",
        type=int,
        default=300,
        help="demo seekers to generate on the first run (default: %(default)s)",
    )
    _address_options(p)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("migrate", help="apply (or revert) database migrations")
    p.add_argument("direction", nargs="?", choices=["up", "down"], default="up")
    p.add_argument("--revision", default=None)
    p.set_defaults(func=cmd_migrate)

    p = sub.add_parser("agency", help="manage agencies")
    agency_sub = p.add_subparsers(dest="agency_command", required=True)
    p = agency_sub.add_parser("create", help="create an agency and print its first admin key")
    p.add_argument("name")
    p.set_defaults(func=cmd_agency_create)

    p = sub.add_parser("worker", help="run a background-job worker (retraining, re-embedding)")
    p.set_defaults(func=cmd_worker)

    add_scoring_model_commands(sub)
    add_accountability_commands(sub)

    p = sub.add_parser("openapi", help="write the OpenAPI spec")
    p.add_argument("--output", default=str(OPENAPI_PATH))
    p.set_defaults(func=cmd_openapi)

    return parser


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    args = build_parser().parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
