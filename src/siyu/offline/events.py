"""Domain events of offline data. One event per import that changed something (not one per
receipt: a POS file holds tens of thousands); subscribers read the rows by ``offline_import_id``."""

from __future__ import annotations

from siyu.outbox.events import DomainEvent


class PosMembersImported(DomainEvent):
    """A POS member file was imported: ``created`` new members (each also announced by the
    members domain's MemberRegistered/MemberJoined), ``updated`` members given identities or
    blank profile fields."""

    aggregate_type = "offline_import"
    offline_import_id: int
    created: int
    updated: int
    store_ids: list[int]


class OfflineOrdersImported(DomainEvent):
    """POS receipts were imported as offline orders. ``member_ids`` are the members whose
    purchase summary changed (sorted), ``store_ids`` the stores the receipts belong to."""

    aggregate_type = "offline_import"
    offline_import_id: int
    orders: int
    lines: int
    net_fen: int
    store_ids: list[int]
    member_ids: list[int]
