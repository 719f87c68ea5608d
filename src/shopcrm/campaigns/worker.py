"""Dispatch on worker processes over a real broker: dramatiq with Redis.

Configured by ``broker_url = "redis://…"`` (and optionally ``broker_namespace``) in the
campaign settings. ``shopcrm campaign worker`` runs ``dramatiq
shopcrm.campaigns.worker`` (processes × threads); launching or "send what is due"
enqueues ``dispatch_campaign(campaign_id)`` messages instead of sending in-process.

The broker carries no state that matters: a message only says "work on campaign N".
Each one runs a bounded number of batches through the same :class:`Dispatcher` (the
claims in the operational store keep workers apart: ``FOR UPDATE SKIP LOCKED`` on
PostgreSQL), then enqueues its successor — at once when more is due, delayed until
the next held message is due (quiet hours, caps, retries, later waves) otherwise. So
a lost, duplicated or redelivered broker message can make work happen twice in
parallel but never send a message twice. Enqueue ``parallel`` messages to spread one
campaign over several workers.

Traps met: dramatiq binds an actor to a broker when it is declared, so the worker
module declares it on the broker of the settings it is started with, and
:func:`enqueue` declares it on a broker built from the caller's settings (same queue
and actor names); dramatiq's own retries are limited (a failed message is retried a
few times — the work is idempotent) and each message is kept short (``BATCHES``), well
inside dramatiq's default 10-minute time limit. Worker processes are forked by
dramatiq: the application context is built lazily in each process, never inherited.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import dramatiq
from dramatiq.brokers.redis import RedisBroker

from shopcrm.campaigns.config import CampaignSettings, load_settings
from shopcrm.settings import Settings

if TYPE_CHECKING:
    from shopcrm.context import AppContext

QUEUE = "shopcrm-campaigns"
ACTOR = "dispatch_campaign"
BATCHES = 20
log = logging.getLogger("shopcrm.campaigns.worker")
_BROKERS: dict[tuple[str, str], tuple[dramatiq.Broker, dramatiq.Actor[Any, Any]]] = {}
_PROCESS: dict[str, Any] = {}


def make_broker(config: CampaignSettings) -> dramatiq.Broker:
    if not config.broker_url:
        raise ValueError("no broker_url in the campaign settings")
    if config.broker_url.startswith(("redis://", "rediss://", "unix://")):
        return RedisBroker(url=config.broker_url,  # type: ignore[no-untyped-call]
                           namespace=config.broker_namespace)
    raise ValueError(f"unsupported broker {config.broker_url!r}: use redis://")


def _process_state() -> tuple[AppContext, Any, CampaignSettings]:
    """This worker process's context, channels and settings (built on first use)."""
    if "context" not in _PROCESS:
        from shopcrm.campaigns.config import channels_from_settings
        from shopcrm.context import build_context

        context = build_context(Settings())
        config = load_settings(context.settings)
        _PROCESS.update(context=context, config=config,
                        channels=channels_from_settings(config, sessions=context.sessions,
                                                        clock=context.clock))
    return _PROCESS["context"], _PROCESS["channels"], _PROCESS["config"]


def dispatch_campaign(campaign_id: int) -> None:
    """Run up to :data:`BATCHES` batches of one campaign, then hand on to a successor."""
    from shopcrm.accounts import audit
    from shopcrm.campaigns.dispatch import Dispatcher

    context, channels, config = _process_state()
    dispatcher = Dispatcher(context, channels=channels, config=config)
    report = dispatcher.run(campaign_id=campaign_id, max_batches=BATCHES,
                            actor=audit.Actor(None, "worker"))
    log.info("campaign %s: %s", campaign_id, report.total)
    due = dispatcher.next_due(campaign_id)
    if due is None:
        return
    now = datetime.now(UTC)
    delay_ms = 0 if report.batches >= BATCHES else max(0, int((due - now).total_seconds() * 1000))
    _actor(config).send_with_options(args=(campaign_id,), delay=delay_ms)


def _declare(broker: dramatiq.Broker) -> dramatiq.Actor[Any, Any]:
    return dramatiq.Actor(dispatch_campaign, broker=broker, actor_name=ACTOR,
                          queue_name=QUEUE, priority=0,
                          options={"max_retries": 3, "min_backoff": 1000,
                                   "time_limit": 10 * 60 * 1000})


def _actor(config: CampaignSettings) -> dramatiq.Actor[Any, Any]:
    key = (config.broker_url or "", config.broker_namespace)
    if key not in _BROKERS:
        broker = make_broker(config)
        _BROKERS[key] = (broker, _declare(broker))
    return _BROKERS[key][1]


def enqueue(context: AppContext, config: CampaignSettings, *, campaign_id: int | None = None,
            parallel: int = 1) -> int:
    """Queue work for the workers: ``parallel`` messages per campaign (the given one, or
    every campaign with something due); returns the number of campaigns queued."""
    from shopcrm.campaigns.config import ChannelSet
    from shopcrm.campaigns.dispatch import Dispatcher

    actor = _actor(config)
    if campaign_id is not None:
        ids = [campaign_id]
    else:
        ids = Dispatcher(context, channels=ChannelSet({}), config=config).due_campaigns()
    for cid in ids:
        for _ in range(max(1, parallel)):
            actor.send(cid)
    return len(ids)


def _worker_module_setup() -> None:
    """When dramatiq imports this module to run workers: the broker of the settings it
    is started with (``SHOPCRM_HOME`` / ``SHOPCRM_CAMPAIGNS_FILE``)."""
    config = load_settings(Settings())
    if config.broker_url:
        broker = make_broker(config)
        dramatiq.set_broker(broker)
        _BROKERS[(config.broker_url, config.broker_namespace)] = (broker, _declare(broker))


if any("dramatiq" in part for part in sys.argv[:1]):  # started by the dramatiq CLI
    _worker_module_setup()
