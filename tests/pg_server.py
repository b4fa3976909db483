"""A throw-away PostgreSQL server for the tests: one cluster per test session in a temporary folder.

The binaries come from the Debian package (scripts/postgres.sh installs it when missing). The server listens
on a Unix socket in its own folder only (no TCP port to clash with), runs as the ``postgres`` user when the
tests run as root (the server refuses root), skips fsync (nothing here needs to survive a crash) and checks
passwords (scram-sha-256), so that a wrong password is a real refusal.
"""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

REPO_ROOT = Path(__file__).resolve().parent.parent
OPT_OUT = "DETECTOR_APP_TEST_POSTGRES"  # "0": skip the PostgreSQL half of the backend tests
SUPERUSER = "postgres"
PORT = 5432  # only names the socket file (.s.PGSQL.5432) in the server's private folder


class PostgresUnavailable(RuntimeError):
    """PostgreSQL could not be installed or started."""


def opted_out() -> bool:
    return os.environ.get(OPT_OUT, "1").strip() == "0"


def bin_dir() -> Path:
    """The folder of initdb/pg_ctl, installing the Debian package first when there is none."""
    found = _find_bin_dir()
    if found is None:
        done = subprocess.run(["bash", str(REPO_ROOT / "scripts" / "postgres.sh")], capture_output=True, text=True)
        found = _find_bin_dir()
        if found is None:
            raise PostgresUnavailable(f"PostgreSQL is not installed and scripts/postgres.sh could not install it: "
                                      f"{(done.stderr or done.stdout).strip()[-500:]}")
    return found


def _find_bin_dir() -> Path | None:
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    if versions:
        return Path(versions[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


@dataclass
class PostgresServer:
    folder: Path
    password: str
    bins: Path

    @property
    def socket_dir(self) -> Path:
        return self.folder / "socket"

    def url(self, database: str, password: str | None = None) -> str:
        """The SQLAlchemy URL of ``database`` (``password`` overrides the right one, to test refusals)."""
        return (f"postgresql+psycopg://{SUPERUSER}:{password or self.password}@/{database}"
                f"?host={self.socket_dir}&port={PORT}")

    def admin(self) -> psycopg.Connection[Any]:
        return psycopg.connect(host=str(self.socket_dir), port=PORT, user=SUPERUSER, password=self.password,
                               dbname="postgres", autocommit=True)

    def create_database(self, name: str) -> str:
        """A new empty database; returns its URL."""
        with self.admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop ``name``, ending any connection a test left open."""
        with self.admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        _run_as_owner([str(self.bins / "pg_ctl"), "-D", str(self.folder / "data"), "-m", "immediate", "-w", "stop"],
                      check=False)
        shutil.rmtree(self.folder, ignore_errors=True)


def start() -> PostgresServer:
    """Install if needed, then init and start a fresh cluster; raises :class:`PostgresUnavailable`."""
    bins = bin_dir()
    folder = Path(tempfile.mkdtemp(prefix="detector-pg-"))
    password = secrets.token_hex(12)
    server = PostgresServer(folder, password, bins)
    try:
        server.socket_dir.mkdir()
        pwfile = folder / "pwfile"
        pwfile.write_text(password + "\n")
        if os.geteuid() == 0:  # the whole folder belongs to the server's user, as initdb wants
            shutil.chown(folder, SUPERUSER, SUPERUSER)
            for path in (server.socket_dir, pwfile):
                shutil.chown(path, SUPERUSER, SUPERUSER)
        _run_as_owner([str(bins / "initdb"), "-D", str(folder / "data"), "-U", SUPERUSER, "-E", "UTF8",
                       "--locale=C", "--auth=scram-sha-256", f"--pwfile={pwfile}", "--no-sync"])
        options = (f"-c listen_addresses='' -k {server.socket_dir} -p {PORT} -F -c full_page_writes=off "
                   "-c synchronous_commit=off -c max_connections=200")
        _run_as_owner([str(bins / "pg_ctl"), "-D", str(folder / "data"), "-l", str(folder / "server.log"),
                       "-o", options, "-w", "-t", "60", "start"])
    except (OSError, subprocess.CalledProcessError, KeyError) as exc:
        log = folder / "server.log"
        detail = getattr(exc, "stderr", None) or (log.read_text()[-800:] if log.is_file() else "")
        server.stop()
        raise PostgresUnavailable(f"could not start a PostgreSQL server in {folder}: {exc} {detail}") from exc
    return server


def _run_as_owner(cmd: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``cmd`` as the ``postgres`` user when we are root (PostgreSQL refuses to run as root)."""
    as_user: dict[str, Any] = {}
    if os.geteuid() == 0:
        as_user = {"user": SUPERUSER, "group": SUPERUSER, "extra_groups": []}
    return subprocess.run(cmd, check=check, capture_output=True, text=True, cwd="/", **as_user)
