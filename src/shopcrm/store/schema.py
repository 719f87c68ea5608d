"""The whole operational schema: every capability's models registered on one ``Base``.

Core tables live in ``store/models.py``; a capability with tables of its own keeps
them in ``<capability>/models.py`` and adds one import line here, so Alembic's
autogenerate and the schema-drift test see every table.
"""

from __future__ import annotations

import shopcrm.campaigns.models
import shopcrm.contacts.merge  # contact points and inbox follow merges
import shopcrm.contacts.models
import shopcrm.contacts.profile  # contact points show on profiles
import shopcrm.identity.models
import shopcrm.loyalty.models
import shopcrm.segments.library_models  # segments, snapshots, tags, tag memberships
import shopcrm.segments.models  # registers lifecycle_transitions
import shopcrm.segments.tag_hooks  # tags follow merges, show on profiles
import shopcrm.tickets.models  # noqa: F401  (registers each capability's tables)
from shopcrm.store.models import Base

__all__ = ["Base"]
