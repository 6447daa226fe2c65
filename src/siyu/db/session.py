"""Engine, sessions and the unit of work.

The caller (a request, a CLI command, a job) owns the transaction: it opens a unit of work,
passes the session to services, and the unit of work commits once at the end or rolls back on
any error. Services never commit.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import orjson
from psycopg.types.json import set_json_loads
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from siyu.config import Settings, get_settings
from siyu.db.embedded import ensure_database, sqlalchemy_url, start_embedded_server

EMBEDDED_DATABASE = "siyu"


def normalize_url(url: str) -> str:
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    if url.startswith("postgresql+psycopg://"):
        return url
    raise ValueError("SIYU_DATABASE_URL must be a postgresql:// URL: siyu runs on PostgreSQL only")


def resolve_database_url(settings: Settings | None = None) -> str:
    """The configured URL, or the embedded server's ``siyu`` database (started on demand)."""
    settings = settings or get_settings()
    if settings.database_url:
        return normalize_url(settings.database_url)
    server_uri = start_embedded_server(settings.data_dir)
    ensure_database(server_uri, EMBEDDED_DATABASE)
    return sqlalchemy_url(server_uri, EMBEDDED_DATABASE)


@dataclass
class Database:
    url: str
    engine: Engine
    sessions: sessionmaker[Session]

    @contextmanager
    def unit_of_work(self) -> Iterator[Session]:
        """One transaction: commit when the block ends normally, roll back on any exception."""
        session = self.sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def dispose(self) -> None:
        self.engine.dispose()


# JSONB columns (opening hours, audit snapshots, event payloads) are decoded on every read;
# orjson does it several times faster than the standard library.
set_json_loads(orjson.loads)


def make_database(url: str, *, pool_size: int = 10, echo: bool = False) -> Database:
    engine = create_engine(
        normalize_url(url),
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        echo=echo,
    )

    @event.listens_for(engine, "connect")
    def _utc(dbapi_connection, _record):  # type: ignore[no-untyped-def]
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SET TIME ZONE 'UTC'")
        dbapi_connection.commit()

    sessions = sessionmaker(bind=engine, expire_on_commit=False, autoflush=True)
    return Database(url=url, engine=engine, sessions=sessions)


_database: Database | None = None


def get_database() -> Database:
    """The process-wide database, created from settings on first use."""
    global _database
    if _database is None:
        settings = get_settings()
        _database = make_database(
            resolve_database_url(settings), pool_size=settings.pool_size, echo=settings.sql_echo
        )
    return _database


def set_database(database: Database | None) -> None:
    global _database
    _database = database
