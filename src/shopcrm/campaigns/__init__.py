"""Campaigns: whom to send to, through which channel, with what offer, and what it earned.

This session holds the pure parts only: :mod:`shopcrm.campaigns.rules` (holdout and
variant assignment, frequency caps, quiet hours, SMS text and length, unsubscribe
keywords, retry backoff) and :mod:`shopcrm.campaigns.lift` (lift over the holdout with
confidence intervals). The campaign model and dispatch come with segments.
"""
