"""What every CLI command needs: settings, logging, and a migrated database."""

from __future__ import annotations

import warnings

from siyu.config import get_settings
from siyu.core.errors import SiyuError
from siyu.core.logging import configure_logging
from siyu.db import migrate
from siyu.db.session import Database, get_database


class DatabaseBehind(SiyuError):
    code = "database_behind"


def prepare(*, auto_upgrade: bool) -> Database:
    """Configure logging and open the database, migrating it when ``auto_upgrade`` (or when
    it is the embedded one, which siyu owns). Raises DatabaseBehind otherwise."""
    warnings.filterwarnings("ignore", module="platformdirs")
    settings = get_settings()
    configure_logging(settings.log_format, settings.log_level)
    database = get_database()
    if auto_upgrade or settings.database_url is None:
        migrate.upgrade(database.url)
    elif migrate.current_revision(database.url) != migrate.head_revision(database.url):
        raise DatabaseBehind("The database schema is not up to date: run 'siyu db upgrade' first.")
    return database
