"""Serving the web app with uvicorn, with background workers alongside when asked."""

from __future__ import annotations

import os

import uvicorn

from siyu.config import get_settings
from siyu.db.embedded import stop_embedded_servers
from siyu.db.session import Database
from siyu.jobs.runner import BackgroundWorkers
from siyu.web.app import create_app


def serve_forever(
    database: Database,
    *,
    host: str | None,
    port: int | None,
    in_process_worker: bool,
    processes: int = 1,
) -> None:
    """Serve until Ctrl-C; then stop the workers, close the pool and release the embedded
    server (which stops when no other siyu process holds it).

    ``processes`` > 1 runs that many web processes sharing the port (uvicorn's supervisor;
    each builds its app with ``create_app_from_settings`` on the same database): one Python
    process serves on at most one core, and the event API is CPU-bound. Background workers
    stay in this process."""
    settings = get_settings()
    workers = BackgroundWorkers(database) if in_process_worker else None
    if workers is not None:
        workers.start()
    host = host or settings.host
    port = port or settings.port
    print(f"siyu is serving on http://{host}:{port}  (Ctrl-C stops it)")
    try:
        if processes > 1:
            # The web processes are started afresh: they find the database (the embedded
            # server started here included) through the environment.
            os.environ["SIYU_DATABASE_URL"] = database.url
            uvicorn.run(
                "siyu.web.app:create_app_from_settings",
                factory=True,
                workers=processes,
                host=host,
                port=port,
                log_level="warning",
                access_log=False,
                proxy_headers=True,
            )
        else:
            uvicorn.run(
                create_app(database),
                host=host,
                port=port,
                log_level="warning",
                access_log=False,
                proxy_headers=True,
            )
    finally:
        if workers is not None:
            workers.stop()
        database.dispose()
        stop_embedded_servers()
        print("siyu stopped.")
