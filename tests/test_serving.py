"""``siyu serve --processes N``: several web processes on one port, one database."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import orjson
from sqlalchemy.orm import Session

from siyu.db.session import Database
from tests.factories import World, build_world
from tests.factories_tracking import event, load_events, make_write_key, stored_events


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _web_processes(pid: int) -> list[int]:
    """The children of ``pid`` that multiprocessing spawned to serve (not its resource
    tracker)."""
    try:
        children = [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []
    return [
        child for child in children if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes()
    ]


def test_two_web_processes_serve_the_event_api_on_one_port(db: Database, session: Session) -> None:
    # given a brand with a storefront write key, and siyu serving with two processes
    world: World = build_world(session)
    _, key = make_write_key(session, world.system)
    session.commit()
    port = _free_port()
    server = subprocess.Popen(  # noqa: S603 - our own command
        [
            shutil.which("siyu") or "siyu",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--processes",
            "2",
            "--no-worker",
        ],
        env={**os.environ, "SIYU_DATABASE_URL": db.url, "SIYU_LOG_LEVEL": "WARNING"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while len(_web_processes(server.pid)) < 2 or not _healthy(port):
            assert server.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
        # when events are posted a few times over fresh connections
        answers = [_post(port, key, [event("visit", event_id=f"mp-{n}")]) for n in range(6)]
        # then every batch is accepted by one of the processes and stored once loaded
        assert answers == [{"accepted": 1, "duplicates": 0, "rejected": []}] * 6
        assert len(_web_processes(server.pid)) == 2
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)
    load_events(db)
    assert sorted(r.event_id for r in stored_events(session, world.brand.id)) == [
        f"mp-{n}" for n in range(6)
    ]


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


def _post(port: int, key: str, events: list[dict[str, object]]) -> object:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/storefront/events",
        data=orjson.dumps({"events": events}),
        headers={"Content-Type": "application/json", "X-Siyu-Write-Key": key},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
        return orjson.loads(answer.read())
