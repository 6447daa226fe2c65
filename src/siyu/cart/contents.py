"""What a consumer's cart for a store holds, read by the cart pages and by checkout alike."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.cart.models import Cart, CartLine
from siyu.inventory.service import release_holds


def cart_id_of(session: Session, brand_id: int, consumer_id: int, store_id: int) -> int | None:
    return session.scalar(
        select(Cart.id).where(
            Cart.brand_id == brand_id, Cart.consumer_id == consumer_id, Cart.store_id == store_id
        )
    )


def cart_lines(
    session: Session, brand_id: int, consumer_id: int, store_id: int
) -> list[tuple[int, int]]:
    """(sku_id, quantity) of the cart's lines, in the order they were added."""
    rows = session.execute(
        select(CartLine.sku_id, CartLine.quantity)
        .join(Cart, (Cart.brand_id == CartLine.brand_id) & (Cart.id == CartLine.cart_id))
        .where(
            Cart.brand_id == brand_id,
            Cart.consumer_id == consumer_id,
            Cart.store_id == store_id,
        )
        .order_by(CartLine.id)
    ).all()
    return [(row.sku_id, row.quantity) for row in rows]


def release_cart_hold(
    session: Session,
    brand_id: int,
    consumer_id: int,
    store_id: int,
    *,
    actor_label: str,
    reason: str,
) -> None:
    """Give back what the cart holds (nothing when there is no cart or no hold)."""
    cart_id = cart_id_of(session, brand_id, consumer_id, store_id)
    if cart_id is not None:
        release_holds(
            session,
            brand_id,
            holder_kind="cart",
            holder_id=cart_id,
            actor_label=actor_label,
            reason=reason,
        )
