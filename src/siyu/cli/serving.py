"""Serving the web app with uvicorn, with background workers alongside when asked."""

from __future__ import annotations

import uvicorn

from siyu.config import get_settings
from siyu.db.embedded import stop_embedded_servers
from siyu.db.session import Database
from siyu.jobs.runner import BackgroundWorkers
from siyu.web.app import create_app


def serve_forever(
    database: Database, *, host: str | None, port: int | None, in_process_worker: bool
) -> None:
    """Serve until Ctrl-C; then stop the workers, close the pool and release the embedded
    server (which stops when no other siyu process holds it)."""
    settings = get_settings()
    workers = BackgroundWorkers(database) if in_process_worker else None
    if workers is not None:
        workers.start()
    config = uvicorn.Config(
        create_app(database),
        host=host or settings.host,
        port=port or settings.port,
        log_level="warning",
        access_log=False,
        proxy_headers=True,
    )
    server = uvicorn.Server(config)
    print(f"siyu is serving on http://{config.host}:{config.port}  (Ctrl-C stops it)")
    try:
        server.run()
    finally:
        if workers is not None:
            workers.stop()
        database.dispose()
        stop_embedded_servers()
        print("siyu stopped.")
