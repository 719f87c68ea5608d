"""The permission matrix: every route declares one of these, every role is a set of them.

Pure data and rules — no I/O — so the matrix is testable and printable in the docs.
"""

from __future__ import annotations

from enum import StrEnum


class Permission(StrEnum):
    VIEW_CUSTOMERS = "view_customers"
    VIEW_PII = "view_pii"
    EDIT_CUSTOMERS = "edit_customers"
    MERGE_CUSTOMERS = "merge_customers"
    EXPORT = "export"
    IMPORT_DATA = "import_data"
    VIEW_ANALYTICS = "view_analytics"
    MANAGE_SEGMENTS = "manage_segments"
    MANAGE_LOYALTY = "manage_loyalty"
    MANAGE_CAMPAIGNS = "manage_campaigns"
    SEND_CAMPAIGNS = "send_campaigns"
    HANDLE_TICKETS = "handle_tickets"
    SITE_INBOX = "site_inbox"
    MANAGE_PRIVACY = "manage_privacy"
    VIEW_AUDIT = "view_audit"
    MANAGE_USERS = "manage_users"
    MANAGE_SETTINGS = "manage_settings"


DESCRIPTIONS: dict[Permission, str] = {
    Permission.VIEW_CUSTOMERS: "see customers, profiles, orders (personal data masked)",
    Permission.VIEW_PII: "see phones, e-mails, names and addresses unmasked",
    Permission.EDIT_CUSTOMERS: "change customer records, tags, consents",
    Permission.MERGE_CUSTOMERS: "merge and un-merge customers",
    Permission.EXPORT: "download customer lists and reports",
    Permission.IMPORT_DATA: "import shop exports",
    Permission.VIEW_ANALYTICS: "see dashboards and KPIs",
    Permission.MANAGE_SEGMENTS: "define tags, segments and RFM settings",
    Permission.MANAGE_LOYALTY: "configure tiers and points, adjust balances",
    Permission.MANAGE_CAMPAIGNS: "create and edit campaigns and journeys",
    Permission.SEND_CAMPAIGNS: "launch campaigns",
    Permission.HANDLE_TICKETS: "work on service tickets",
    Permission.SITE_INBOX: "read customers' in-site inboxes and mark messages read "
                           "(the shop site's API key)",
    Permission.MANAGE_PRIVACY: "data-subject export and erasure",
    Permission.VIEW_AUDIT: "read the audit log",
    Permission.MANAGE_USERS: "create users, roles and API keys",
    Permission.MANAGE_SETTINGS: "change shop settings",
}

BUILTIN_ROLES: dict[str, frozenset[Permission]] = {
    "admin": frozenset(Permission),
    "marketer": frozenset({
        Permission.VIEW_CUSTOMERS, Permission.VIEW_ANALYTICS, Permission.MANAGE_SEGMENTS,
        Permission.MANAGE_CAMPAIGNS, Permission.SEND_CAMPAIGNS, Permission.EXPORT,
        Permission.MANAGE_LOYALTY,
    }),
    "analyst": frozenset({
        Permission.VIEW_CUSTOMERS, Permission.VIEW_ANALYTICS, Permission.MANAGE_SEGMENTS,
        Permission.EXPORT, Permission.IMPORT_DATA,
    }),
    "agent": frozenset({
        Permission.VIEW_CUSTOMERS, Permission.EDIT_CUSTOMERS, Permission.HANDLE_TICKETS,
    }),
}
"""The four roles every install starts with; shops add custom roles as data."""


def parse_permissions(names: list[str]) -> frozenset[Permission]:
    """Permissions from their names; an unknown name is an error, never ignored."""
    unknown = sorted(set(names) - {p.value for p in Permission})
    if unknown:
        raise ValueError(f"unknown permission(s): {', '.join(unknown)}")
    return frozenset(Permission(n) for n in names)
