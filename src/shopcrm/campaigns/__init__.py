"""Campaigns: whom to send to, through which channel, with what offer, and what it earned.

- :mod:`~shopcrm.campaigns.rules` — pure: holdout and variants, frequency caps, quiet
  hours, rate limits, SMS text and length, unsubscribe keywords, retry backoff.
- :mod:`~shopcrm.campaigns.lift` — pure: lift over the holdout with confidence
  intervals, ROI, funnel.
- :mod:`~shopcrm.campaigns.specs` / :mod:`~shopcrm.campaigns.states` /
  :mod:`~shopcrm.campaigns.plan` — the plan as data, the state machine and exact
  counts, arm and wave of each customer (pure).
- :mod:`~shopcrm.campaigns.models` — campaigns, one delivery row per (campaign, step,
  customer), suppressions, inbound events, coupon pools and codes.
- :mod:`~shopcrm.campaigns.audience` — audience spec → fixed customer list at launch.
- :mod:`~shopcrm.campaigns.service` — create, edit, launch, pause, resume, cancel.
- :mod:`~shopcrm.campaigns.content` — sandboxed Jinja2 templates, previews, SMS length.
- :mod:`~shopcrm.campaigns.personalize` / :mod:`~shopcrm.campaigns.recommend` — the
  per-customer values templates may use (profile, tier, points, co-purchase).
- :mod:`~shopcrm.campaigns.coupons` — pools of unique codes, assignment, redemption.
- :mod:`~shopcrm.campaigns.respect` — suppression list, unsubscribe by reply / link /
  header, receipts, opens and clicks.
- :mod:`~shopcrm.campaigns.dispatch` — resumable, idempotent sending with retries and
  dead letters; :mod:`~shopcrm.campaigns.worker` — the same on dramatiq workers.
- :mod:`~shopcrm.campaigns.report` — funnel, conversions from the warehouse, lift, ROI.
"""

from __future__ import annotations


class CampaignError(Exception):
    """A campaign request that cannot be done as asked; the message says why (422)."""


class CampaignNotFound(CampaignError):
    """No campaign (or pool, or suppression) with that ID (404)."""


class CampaignConflict(CampaignError):
    """The campaign's state does not allow it (409)."""
