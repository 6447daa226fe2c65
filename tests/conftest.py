"""Test fixtures: a throwaway PostgreSQL database per run (per xdist worker), emptied between
tests, and an app wired to it.

With SIYU_TEST_DATABASE_URL set (a server URL whose user may create databases), tests use that
server; otherwise siyu's embedded server in the user data dir.
"""

from __future__ import annotations

import os
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

# Cheap password hashing keeps the suite fast; production cost comes from settings.
os.environ.setdefault("SIYU_PASSWORD_TIME_COST", "1")
os.environ.setdefault("SIYU_PASSWORD_MEMORY_KIB", "1024")
os.environ.setdefault("SIYU_LOG_LEVEL", "WARNING")
warnings.filterwarnings("ignore", module="platformdirs")

from fastapi.testclient import TestClient  # noqa: E402
from sqlalchemy import text  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from siyu.config import default_data_dir, get_settings  # noqa: E402
from siyu.core.logging import configure_logging  # noqa: E402
from siyu.db import migrate  # noqa: E402
from siyu.db.embedded import (  # noqa: E402
    drop_database,
    ensure_database,
    sqlalchemy_url,
    start_embedded_server,
)
from siyu.db.models import Base  # noqa: E402
from siyu.db.session import Database, make_database, set_database  # noqa: E402
from siyu.web.app import create_app  # noqa: E402

configure_logging("console", "WARNING")


def _server_uri() -> str:
    external = os.environ.get("SIYU_TEST_DATABASE_URL")
    if external:
        return external.replace("postgresql+psycopg://", "postgresql://", 1)
    return start_embedded_server(Path(default_data_dir()) / "test-server")


@pytest.fixture(scope="session")
def database() -> Iterator[Database]:
    server = _server_uri()
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    name = f"siyu_test_{worker}_{uuid.uuid4().hex[:8]}"
    ensure_database(server, name)
    if server.startswith("postgresql://") and "host=" in server:
        url = sqlalchemy_url(server, name)
    else:
        base, _, _ = server.rpartition("/")
        url = f"{base}/{name}".replace("postgresql://", "postgresql+psycopg://", 1)
    migrate.upgrade(url)
    db = make_database(url, pool_size=5)
    set_database(db)
    get_settings.cache_clear()
    try:
        yield db
    finally:
        set_database(None)
        db.dispose()
        drop_database(server, name)


SIYU_TABLES = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)


@pytest.fixture
def db(database: Database) -> Iterator[Database]:
    """The test database, emptied after the test."""
    try:
        yield database
    finally:
        with database.engine.begin() as connection:
            connection.execute(text(f"TRUNCATE {SIYU_TABLES} RESTART IDENTITY CASCADE"))
            connection.execute(text("DELETE FROM procrastinate_jobs"))


@pytest.fixture
def session(db: Database) -> Iterator[Session]:
    """A session for arranging and asserting; commit explicitly to make data visible to the app."""
    with db.sessions() as s:
        yield s


@pytest.fixture
def client(db: Database) -> Iterator[TestClient]:
    with TestClient(create_app(db), base_url="http://testserver") as test_client:
        yield test_client
