"""Importing the catalog from CSV: one row per SKU, all-or-nothing, idempotent by code."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from siyu.access.rules import Actor, Role, staff_actor, system_actor
from siyu.audit.models import AuditEntry
from siyu.catalog.demo import seed_demo_categories
from siyu.catalog.imports import import_products
from siyu.catalog.models import Product, Sku
from siyu.cli.main import app
from siyu.config import get_settings
from siyu.core.csvfile import ImportRejected, ImportReport
from siyu.core.errors import PermissionDenied
from siyu.db.session import Database, set_database
from siyu.outbox.models import OutboxEvent
from tests.factories import make_brand

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
HEADER = (
    "category,product_code,product_name,sku_code,attributes,list_price,barcode,"
    "exclusive_channel,status,max_per_order,images"
)
ROWS = [
    "TOPS,TEE,Tee T恤,TEE-M,colour=white;size=M,199.00,690001,,active,5,"
    "https://img.example.com/t/1.jpg|https://img.example.com/t/2.jpg",
    "TOPS,TEE,Tee T恤,TEE-L,colour=white;size=L,199.5,,,,,"
    "https://img.example.com/t/1.jpg|https://img.example.com/t/2.jpg",
    "OUTERWEAR,JKT,Jacket 羽绒服,JKT-M,size=M,899,,mini_program,inactive,1,",
]


def csv(rows: list[str], header: str = HEADER) -> str:
    return "\n".join([header, *rows]) + "\n"


@pytest.fixture
def actor(session: Session) -> Actor:
    brand = make_brand(session)
    actor = system_actor(brand.id, "csv import")
    seed_demo_categories(session, actor)
    session.flush()
    return actor


def counts(session: Session) -> tuple[int, int, int, int]:
    return tuple(  # type: ignore[return-value]
        session.scalar(select(func.count()).select_from(model)) or 0
        for model in (Product, Sku, AuditEntry, OutboxEvent)
    )


def test_importing_creates_products_and_skus(session: Session, actor: Actor) -> None:
    # when
    report = import_products(session, actor, csv(ROWS))
    # then
    assert report == ImportReport(created=3, updated=0, unchanged=0)
    products = {p.code: p for p in session.scalars(select(Product))}
    skus = {s.code: s for s in session.scalars(select(Sku))}
    assert (products["TEE"].name, products["TEE"].images, products["TEE"].exclusive_channel) == (
        "Tee T恤",
        ["https://img.example.com/t/1.jpg", "https://img.example.com/t/2.jpg"],
        None,
    )
    assert products["JKT"].exclusive_channel == "mini_program"
    assert [
        (s.product_id, s.attributes, s.list_price_fen, s.barcode, s.status, s.max_per_order)
        for s in (skus["TEE-M"], skus["TEE-L"], skus["JKT-M"])
    ] == [
        (products["TEE"].id, {"colour": "white", "size": "M"}, 19900, "690001", "active", 5),
        (products["TEE"].id, {"colour": "white", "size": "L"}, 19950, None, "active", 99),
        (products["JKT"].id, {"size": "M"}, 89900, None, "inactive", 1),
    ]
    # 5 demo categories + 2 products + 3 SKUs, each audited and published once (and the
    # brand's own creation event)
    assert counts(session) == (2, 3, 10, 11)


def test_reimporting_the_same_file_changes_nothing(session: Session, actor: Actor) -> None:
    # given
    import_products(session, actor, csv(ROWS))
    before = counts(session)
    # when
    report = import_products(session, actor, csv(ROWS))
    # then
    assert report == ImportReport(created=0, updated=0, unchanged=3)
    assert counts(session) == before


def test_changed_rows_are_updated_and_audited(session: Session, actor: Actor) -> None:
    # given
    import_products(session, actor, csv(ROWS))
    before = counts(session)
    changed = [
        ROWS[0].replace("199.00", "179.00"),
        ROWS[1].replace("Tee T恤", "Tee 有机棉T恤"),
        ROWS[2],
    ]
    changed[0] = changed[0].replace("Tee T恤", "Tee 有机棉T恤")
    # when
    report = import_products(session, actor, csv(changed))
    # then the price of TEE-M and the name of TEE changed: two rows updated
    assert report == ImportReport(created=0, updated=2, unchanged=1)
    assert session.scalar(select(Sku.list_price_fen).where(Sku.code == "TEE-M")) == 17900
    assert session.scalar(select(Product.name).where(Product.code == "TEE")) == "Tee 有机棉T恤"
    events = session.scalars(
        select(OutboxEvent.event_type).order_by(OutboxEvent.id).offset(before[3])
    ).all()
    assert events == ["ProductChanged", "SkuChanged"]
    assert counts(session)[:2] == before[:2]


def test_every_bad_row_is_reported_and_nothing_is_written(session: Session, actor: Actor) -> None:
    # given
    before = counts(session)
    rows = [
        ROWS[0],
        "SHOES,RUN,Runner,RUN-1,size=42,199.001,,,,,",
        "TOPS,TEE,Tee T恤,TEE-M,size,-5,,,unknown,0,ftp://x",
        "TOPS,TEE,Other name,TEE-XL,,10,,Web,,,",
        "DRESSES,D 1,,D-1,,,,,,,",
    ]
    # when
    with pytest.raises(ImportRejected) as raised:
        import_products(session, actor, csv(rows))
    # then
    differs = "differs from line 2 for product 'TEE'; the rows of one product must agree"
    assert [(e.line, e.column, e.reason) for e in raised.value.errors] == [
        (
            3,
            "category",
            "no category with code 'SHOES' in this brand; create the category "
            "first (imports do not create categories)",
        ),
        (3, "list_price", "a price has at most 2 decimals (fen)"),
        (4, "attributes", "'size' is not name=value; write e.g. colour=red;size=M"),
        (4, "images", "'ftp://x' is not an http(s) URL"),
        (4, "images", differs),
        (4, "list_price", "a price cannot be negative"),
        (4, "max_per_order", "must be a whole number above 0"),
        (4, "sku_code", "the SKU code 'TEE-M' appears twice in the file (also on line 2)"),
        (4, "status", "must be 'active' or 'inactive'"),
        (5, "exclusive_channel", differs),
        (
            5,
            "exclusive_channel",
            "is not a channel name: lower-case letters, digits and '_', e.g. mini_program",
        ),
        (5, "images", differs),
        (5, "product_name", differs),
        (6, "list_price", "a value is required"),
        (
            6,
            "product_code",
            "is not a valid code: 1-32 letters, digits, '_', '.' or '-', "
            "starting with a letter or digit",
        ),
        (6, "product_name", "a value is required"),
    ]
    assert counts(session) == before


def test_a_sku_cannot_move_to_another_product(session: Session, actor: Actor) -> None:
    import_products(session, actor, csv(ROWS))
    before = counts(session)
    with pytest.raises(ImportRejected) as raised:
        import_products(session, actor, csv(["TOPS,OTHER,Other,TEE-M,,1,,,,,"]))
    assert [str(e) for e in raised.value.errors] == [
        "line 2, column product_code: the SKU 'TEE-M' belongs to product 'TEE'; a SKU cannot "
        "move to another product"
    ]
    assert counts(session) == before


def test_importing_needs_catalog_write(session: Session, actor: Actor) -> None:
    operator = staff_actor(
        brand_id=actor.brand_id,
        staff_id=1,
        name="x",
        role=Role.REGION_MANAGER,
        region_id=1,
        store_id=None,
        franchisee_id=None,
    )
    with pytest.raises(PermissionDenied):
        import_products(session, operator, csv(ROWS))


def test_the_number_of_queries_does_not_grow_with_the_file(session: Session, actor: Actor) -> None:
    # given files of 10 and of 300 existing SKUs
    def rows(n: int) -> list[str]:
        return [f"TOPS,P{i // 5},Product {i // 5},SKU-{i},size={i},{i}.00,,,,," for i in range(n)]

    import_products(session, actor, csv(rows(300)))
    statements: list[str] = []
    engine = session.get_bind()

    def on_execute(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(engine, "before_cursor_execute", on_execute)
    try:
        import_products(session, actor, csv(rows(10)))
        small = len(statements)
        statements.clear()
        import_products(session, actor, csv(rows(300)))
        large = len(statements)
    finally:
        event.remove(engine, "before_cursor_execute", on_execute)
    # then re-importing (nothing changes) takes the same three queries
    assert small == large == 3


@pytest.fixture
def cli(db: Database, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("SIYU_DATABASE_URL", db.url)
    get_settings.cache_clear()
    set_database(db)
    try:
        yield CliRunner()
    finally:
        get_settings.cache_clear()


def test_the_example_file_through_the_cli(cli: CliRunner, session: Session) -> None:
    # given a committed brand with the demo categories
    brand = make_brand(session, "jinxiu")
    seed_demo_categories(session, system_actor(brand.id, "test"))
    session.commit()
    args = ["import", "products", str(EXAMPLES / "products.csv"), "--brand", "jinxiu"]
    # when checked, imported, then imported again
    dry = cli.invoke(app, [*args, "--dry-run"])
    first = cli.invoke(app, args)
    again = cli.invoke(app, args)
    # then
    assert (dry.exit_code, dry.stdout) == (
        0,
        "Dry run of products for brand 'jinxiu': the file is good and would give 10 created, "
        "0 updated, 0 unchanged. Nothing was written.\n",
    )
    assert (first.exit_code, first.stdout) == (
        0,
        "Imported products into brand 'jinxiu': 10 created, 0 updated, 0 unchanged.\n",
    )
    assert (again.exit_code, again.stdout) == (
        0,
        "Imported products into brand 'jinxiu': 0 created, 0 updated, 10 unchanged.\n",
    )
    session.commit()
    assert session.scalar(select(func.count()).select_from(Sku)) == 10


def test_a_bad_file_through_the_cli_exits_2(
    cli: CliRunner, session: Session, tmp_path: Path
) -> None:
    make_brand(session, "jinxiu")
    session.commit()
    path = tmp_path / "products.csv"
    path.write_text(csv(["NOPE,P,Product,P-1,,1.00,,,,,"]), encoding="utf-8-sig")
    result = cli.invoke(app, ["import", "products", str(path), "--brand", "jinxiu"])
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "line 2, column category: no category with code 'NOPE' in this brand; create the "
        "category first (imports do not create categories)",
        "rejected: 1 problem found; nothing was imported. (products.csv)",
    ]
