"""What every benchmark needs: a throwaway database, servers on loopback, and small figures.

Imported by the benchmarks of this folder as ``_harness`` (``siyu bench`` puts this folder on
``sys.path``; running a benchmark file directly does the same).
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value else default


def percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, round(fraction * (len(sorted_values) - 1)))
    return sorted_values[index]


def throwaway_database() -> tuple[str, str, str]:
    """(server libpq URI, database name, SQLAlchemy URL) of a new empty database on the
    configured server (SIYU_DATABASE_URL), or on the embedded one."""
    from sqlalchemy import make_url

    from siyu.config import get_settings
    from siyu.db.embedded import (
        ensure_database,
        libpq_conninfo,
        sqlalchemy_url,
        start_embedded_server,
    )
    from siyu.db.session import normalize_url

    settings = get_settings()
    name = f"siyu_bench_{uuid.uuid4().hex[:8]}"
    if settings.database_url:
        configured = make_url(normalize_url(settings.database_url))
        url = configured.set(database=name).render_as_string(hide_password=False)
        server_db = libpq_conninfo(
            configured.set(database="postgres").render_as_string(hide_password=False)
        )
    else:
        server_db = start_embedded_server(settings.data_dir)
        url = sqlalchemy_url(server_db, name)
    ensure_database(server_db, name)
    return server_db, name, url


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class BackgroundServer:
    server: Any
    thread: threading.Thread
    base_url: str

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


def serve_in_thread(app: Any) -> BackgroundServer:
    """Serve ``app`` with uvicorn on a free loopback port, in a daemon thread."""
    import uvicorn

    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"uvicorn did not start on port {port}")
        time.sleep(0.02)
    return BackgroundServer(server, thread, f"http://127.0.0.1:{port}")
