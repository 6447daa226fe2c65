"""The FastAPI application: JSON API under /api, console under /console, static files."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import text

import siyu
from siyu.access.api import router as access_api
from siyu.access.console import router as access_console
from siyu.aftersales.api import router as aftersales_api
from siyu.aftersales.api import storefront_router as aftersales_storefront_api
from siyu.aftersales.console import router as aftersales_console
from siyu.attribution.api import router as attribution_api
from siyu.attribution.console import router as attribution_console
from siyu.audit.api import router as audit_api
from siyu.audit.console import router as audit_console
from siyu.catalog.api import router as catalog_api
from siyu.catalog.console import router as catalog_console
from siyu.cloud_store.api import router as cloud_store_api
from siyu.cloud_store.api import storefront_router as storefront_api
from siyu.consent.api import router as consent_api
from siyu.consent.api import storefront_router as consent_storefront_api
from siyu.consent.console import router as consent_console
from siyu.consumers.api import router as consumers_api
from siyu.db.session import Database, get_database
from siyu.inventory.api import router as inventory_api
from siyu.inventory.console import router as inventory_console
from siyu.loyalty.api import router as loyalty_api
from siyu.loyalty.api import storefront_router as loyalty_storefront_api
from siyu.loyalty.console import router as loyalty_console
from siyu.members.api import router as members_api
from siyu.members.api import storefront_router as members_storefront_api
from siyu.members.console import router as members_console
from siyu.offline.api import router as offline_api
from siyu.offline.console import router as offline_console
from siyu.orders.api import staff as orders_api
from siyu.orders.api import storefront as orders_storefront_api
from siyu.orders.console import router as orders_console
from siyu.orders.fulfilment_api import router as fulfilment_api
from siyu.orders.fulfilment_api import storefront_router as fulfilment_storefront_api
from siyu.org.api import router as org_api
from siyu.org.console import router as org_console
from siyu.payments.api import router as payments_api
from siyu.segments.api import router as segments_api
from siyu.segments.console import router as segments_console
from siyu.settlement.api import router as settlement_api
from siyu.settlement.console import router as settlement_console
from siyu.shop.pages import router as shop_pages
from siyu.staff.api import router as staff_api
from siyu.staff.console import router as staff_console
from siyu.touchpoints.api import router as touchpoints_api
from siyu.touchpoints.api import storefront_router as touchpoints_storefront_api
from siyu.touchpoints.console import router as touchpoints_console
from siyu.tracking.api import EventsFastPath
from siyu.tracking.api import router as tracking_api
from siyu.tracking.api import storefront_router as tracking_storefront_api
from siyu.web.middleware import RequestContextMiddleware
from siyu.web.problems import install_problem_handlers
from siyu.wechat.pages import router as wechat_sandbox_pages

STATIC = Path(__file__).parent / "static"

DESCRIPTION = """
siyu's JSON API. Every endpoint needs `Authorization: Bearer siyu_...` (an API token of a staff
member or an integration app); what it returns is limited to the token's brand and to the
owner's scope. Errors are `application/problem+json` with a stable `code`.
"""


def tune_garbage_collector() -> None:
    """Move everything allocated at start-up out of the collector's sight and collect the
    young generation less often: a page of 1,000 stores allocates ~100k short-lived objects,
    and with CPython's defaults the collector walks the whole heap dozens of times per page."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    tune_garbage_collector()
    yield


def create_app(database: Database) -> FastAPI:
    app = FastAPI(
        lifespan=lifespan,
        title="siyu",
        version=siyu.__version__,
        description=DESCRIPTION,
        docs_url="/docs",
        openapi_url="/openapi.json",
    )
    app.state.database = database
    install_problem_handlers(app)

    api = APIRouter(prefix="/api")
    for router in (
        access_api,
        org_api,
        staff_api,
        audit_api,
        consumers_api,
        payments_api,
        catalog_api,
        inventory_api,
        cloud_store_api,
        storefront_api,
        orders_api,
        orders_storefront_api,
        settlement_api,
        fulfilment_api,
        fulfilment_storefront_api,
        aftersales_api,
        aftersales_storefront_api,
        touchpoints_api,
        touchpoints_storefront_api,
        tracking_api,
        tracking_storefront_api,
        offline_api,
        members_api,
        members_storefront_api,
        segments_api,
        loyalty_api,
        loyalty_storefront_api,
        attribution_api,
        consent_api,
        consent_storefront_api,
    ):
        api.include_router(router)
    app.include_router(api)

    for router in (
        access_console,
        org_console,
        staff_console,
        audit_console,
        settlement_console,
        orders_console,
        aftersales_console,
        catalog_console,
        inventory_console,
        segments_console,
        touchpoints_console,
        offline_console,
        members_console,
        loyalty_console,
        attribution_console,
        consent_console,
    ):
        app.include_router(router, prefix="/console", include_in_schema=False)

    app.include_router(wechat_sandbox_pages, include_in_schema=False)
    app.include_router(shop_pages, include_in_schema=False)

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/console", status_code=307)

    @app.get("/healthz", tags=["health"])
    def health() -> dict[str, str]:
        """Liveness and database reachability, for load balancers. Reveals nothing else."""
        with database.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return {"status": "ok"}

    app.add_middleware(EventsFastPath)
    app.add_middleware(RequestContextMiddleware)
    return app


def create_app_from_settings() -> FastAPI:
    """The app on the process-wide database (``SIYU_DATABASE_URL``): the factory each web
    process of ``siyu serve --processes N`` builds its app with."""
    return create_app(get_database())
