"""Row locks of consent, taken in this order and held until the caller's transaction ends:

0. the brand's ``consent_policy`` row, when changing the policy (nothing else is locked then);
1. the member's ``consent_state`` row of the channel (created if missing), which serializes
   every consent change and send decision of that member on that channel;
2. the ``consent_send`` row being released;
3. the ``consent_subscription`` credit row being spent or returned.

Take member locks (siyu.members) before these if both are needed.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from siyu.consent.models import ConsentPolicy, ConsentSend, ConsentState, Subscription


def lock_policy(session: Session, brand_id: int) -> ConsentPolicy | None:
    """The brand's policy row, locked; None when the brand has none yet."""
    return session.scalar(
        select(ConsentPolicy)
        .where(ConsentPolicy.brand_id == brand_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def lock_consent_state(
    session: Session, brand_id: int, member_id: int, channel: str
) -> ConsentState:
    """The member's consent row of ``channel``, locked FOR UPDATE; created (no choice made)
    when missing. The member must exist."""
    session.execute(
        insert(ConsentState)
        .values(brand_id=brand_id, member_id=member_id, channel=channel)
        .on_conflict_do_nothing(index_elements=["brand_id", "member_id", "channel"])
    )
    row = session.scalar(
        select(ConsentState)
        .where(
            ConsentState.brand_id == brand_id,
            ConsentState.member_id == member_id,
            ConsentState.channel == channel,
        )
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert row is not None
    return row


def lock_send(session: Session, brand_id: int, send_id: int) -> ConsentSend | None:
    return session.scalar(
        select(ConsentSend)
        .where(ConsentSend.brand_id == brand_id, ConsentSend.id == send_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def lock_credit(
    session: Session, brand_id: int, member_id: int, template_id: str
) -> Subscription | None:
    """The member's oldest unspent accepted subscription of ``template_id``, locked."""
    return session.scalar(
        select(Subscription)
        .where(
            Subscription.brand_id == brand_id,
            Subscription.member_id == member_id,
            Subscription.template_id == template_id,
            Subscription.result == "accept",
            Subscription.consumed_at.is_(None),
        )
        .order_by(Subscription.id)
        .limit(1)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def lock_subscription(session: Session, brand_id: int, subscription_id: int) -> Subscription | None:
    return session.scalar(
        select(Subscription)
        .where(Subscription.brand_id == brand_id, Subscription.id == subscription_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
