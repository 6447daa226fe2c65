"""Row locks of after-sales and complaints.

Order when several are needed: the order (siyu.orders.locks.lock_order), then its after-sale
request, then stock through siyu.inventory, so that the refund path (which locks the order
first too) and staff decisions never deadlock. A complaint is locked alone.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.aftersales.models import AfterSale, Complaint


def lock_after_sale(session: Session, brand_id: int, after_sale_id: int) -> AfterSale | None:
    return session.scalar(
        select(AfterSale)
        .where(AfterSale.brand_id == brand_id, AfterSale.id == after_sale_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def lock_complaint(session: Session, brand_id: int, complaint_id: int) -> Complaint | None:
    return session.scalar(
        select(Complaint)
        .where(Complaint.brand_id == brand_id, Complaint.id == complaint_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
