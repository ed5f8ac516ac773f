"""Engage > Segments, Traits, Events, Users, Companies, and Setup > Members: one module per
screen, re-exported here for the URLconf (``segments/urls.py``) and ``callout/urls.py``
(``home``, ``invite``)."""

from .companies import company_detail, company_list
from .events import event_create, event_delete, event_edit, event_list, event_row
from .history import segment_history, segment_restore
from .members import invite, invite_revoke, member_add, member_list, member_remove, member_role
from .segments import (
    home,
    segment_create,
    segment_delete,
    segment_detail,
    segment_edit,
    segment_list,
    segment_node,
    segment_preview,
    segment_rule_row,
)
from .traits import trait_create, trait_delete, trait_edit, trait_list, trait_row
from .users import user_detail, user_list

__all__ = [
    "company_detail",
    "company_list",
    "event_create",
    "event_delete",
    "event_edit",
    "event_list",
    "event_row",
    "home",
    "invite",
    "invite_revoke",
    "member_add",
    "member_list",
    "member_remove",
    "member_role",
    "segment_create",
    "segment_delete",
    "segment_detail",
    "segment_edit",
    "segment_history",
    "segment_list",
    "segment_node",
    "segment_preview",
    "segment_restore",
    "segment_rule_row",
    "trait_create",
    "trait_delete",
    "trait_edit",
    "trait_list",
    "trait_row",
    "user_detail",
    "user_list",
]
