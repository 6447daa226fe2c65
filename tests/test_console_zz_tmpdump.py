from pathlib import Path
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session
from tests.factories import build_world
from tests.test_console_pages import log_in

def test_dump(session: Session, client: TestClient) -> None:
    world = build_world(session)
    session.commit()
    out = Path("/tmp/pages"); out.mkdir(exist_ok=True)
    csrf = log_in(client, world, "brand_admin")
    client.post(f"/console/stores/{world.direct_store.id}", data={"csrf_token": csrf, "name": "X", "phone": "13911112222"})
    for name, url in [("stores", "/console/stores"), ("store", f"/console/stores/{world.franchise_store.id}"),
                      ("store_new", "/console/stores/new"), ("staff", "/console/staff"), ("staff_new", "/console/staff/new"),
                      ("person", f"/console/staff/{world.staff['guide'].id}"), ("tokens", "/console/tokens"), ("audit", "/console/audit")]:
        r = client.get(url)
        (out / f"{name}.html").write_text(f"<!-- {r.status_code} {dict(r.headers)} -->\n" + r.text)
    log_in(client, world, "region_manager")
    (out / "rm_staff_new.html").write_text(client.get("/console/staff/new").text)
