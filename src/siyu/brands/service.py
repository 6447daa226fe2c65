"""Creating and finding brands (tenants). Brand creation is an operator's act (CLI, demo)."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.brands import events
from siyu.brands.errors import BrandNotFound, DuplicateBrand, InvalidBrandSlug
from siyu.brands.models import Brand
from siyu.outbox.service import record_event

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{1,38}[a-z0-9]$")


def create_brand(session: Session, *, slug: str, name: str) -> Brand:
    """Raises InvalidBrandSlug or DuplicateBrand. Publishes BrandCreated."""
    if not SLUG.match(slug):
        raise InvalidBrandSlug(
            "A brand slug is 3-40 lowercase letters, digits or '-', not starting or ending "
            "with '-'.",
            field="slug",
        )
    if session.scalar(select(Brand.id).where(Brand.slug == slug)) is not None:
        raise DuplicateBrand(f"A brand with slug '{slug}' already exists.", field="slug")
    brand = Brand(slug=slug, name=name.strip())
    session.add(brand)
    session.flush()
    record_event(session, brand.id, events.BrandCreated(brand_id=brand.id, slug=slug, name=name))
    return brand


def get_brand_by_slug(session: Session, slug: str) -> Brand:
    brand = session.scalar(select(Brand).where(Brand.slug == slug))
    if brand is None:
        raise BrandNotFound(f"No brand with slug '{slug}'.", field="brand")
    return brand


def get_brand(session: Session, brand_id: int) -> Brand:
    brand = session.get(Brand, brand_id)
    if brand is None:
        raise BrandNotFound(f"Brand {brand_id} was not found.")
    return brand
