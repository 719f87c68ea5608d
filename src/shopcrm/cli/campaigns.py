"""``shopcrm campaign …``: create from a plan file, launch, dispatch (in-process or on
dramatiq workers), pause / resume / cancel, report, sync SMS receipts and replies (or
print the SMS clouds' callback URLs), read the unsubscribe/bounce mailbox, coupon pools.
Thin: each command builds the context, calls services, prints; refusals exit with code
2."""

from __future__ import annotations

import json
import time
import tomllib
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from shopcrm.accounts import audit
from shopcrm.campaigns import CampaignError
from shopcrm.context import AppContext, build_context
from shopcrm.settings import Settings

app = typer.Typer(help="Campaigns: plan, launch, dispatch, measure.", no_args_is_help=True)
coupons_app = typer.Typer(help="Coupon pools and their codes.", no_args_is_help=True)
app.add_typer(coupons_app, name="coupons")
contacts_app = typer.Typer(help="WeChat openids and push device tokens.", no_args_is_help=True)
app.add_typer(contacts_app, name="contacts")
console = Console()
CLI = audit.Actor(None, "cli")


def _context() -> AppContext:
    return build_context(Settings())


def _refuse(exc: Exception) -> typer.Exit:
    console.print(f"[red]{exc}[/]")
    return typer.Exit(2)


def _read_plan(path: Path) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text) if path.suffix.lower() == ".json" \
        else tomllib.loads(text)
    return data


@app.command("create")
def create(plan: Annotated[Path, typer.Argument(exists=True, dir_okay=False,
                                                help="campaign plan, .toml or .json")]) -> None:
    """Create a draft campaign from a plan file (see docs/campaigns.md)."""
    from pydantic import ValidationError

    from shopcrm.campaigns import service
    from shopcrm.campaigns.config import load_settings
    from shopcrm.campaigns.specs import CampaignSpec

    context = _context()
    try:
        spec = CampaignSpec.model_validate(_read_plan(plan))
        config = load_settings(context.settings)
        with context.sessions.begin() as session:
            campaign = service.create_campaign(session, spec=spec, actor=CLI,
                                               now=context.clock.now(),
                                               default_price=config.price(spec.channel))
            campaign_id = campaign.id
    except (ValidationError, CampaignError, ValueError) as exc:
        raise _refuse(exc) from exc
    finally:
        context.close()
    console.print(f"campaign [bold]{campaign_id}[/] created (draft)")
    typer.echo(campaign_id)


@app.command("launch")
def launch(campaign_id: int) -> None:
    """Snapshot the audience and schedule the campaign (audited)."""
    from shopcrm.campaigns import service

    context = _context()
    try:
        report = service.launch(context, campaign_id=campaign_id, actor=CLI)
    except CampaignError as exc:
        raise _refuse(exc) from exc
    finally:
        context.close()
    console.print(f"launched campaign {campaign_id}: {report.audience:,} customers "
                  f"({report.holdout:,} held out), arms {report.by_arm}, "
                  f"snapshot {report.snapshot_id}")


def _status_change(name: str, campaign_id: int, reason: str = "") -> None:
    from shopcrm.campaigns import service

    context = _context()
    try:
        with context.sessions.begin() as session:
            now = context.clock.now()
            if name == "pause":
                service.pause(session, campaign_id=campaign_id, actor=CLI, now=now)
            elif name == "resume":
                service.resume(session, campaign_id=campaign_id, actor=CLI, now=now)
            else:
                service.cancel(session, campaign_id=campaign_id, actor=CLI, now=now,
                               reason=reason)
    except CampaignError as exc:
        raise _refuse(exc) from exc
    finally:
        context.close()
    console.print(f"campaign {campaign_id}: {name} done")


@app.command("pause")
def pause(campaign_id: int) -> None:
    """Stop sending (messages in flight finish)."""
    _status_change("pause", campaign_id)


@app.command("resume")
def resume(campaign_id: int) -> None:
    """Carry on sending a paused campaign."""
    _status_change("resume", campaign_id)


@app.command("cancel")
def cancel(campaign_id: int, reason: Annotated[str, typer.Option()] = "") -> None:
    """Cancel: nothing more goes out; pending messages are counted as cancelled."""
    _status_change("cancel", campaign_id, reason)


@app.command("dispatch")
def dispatch(
    campaign_id: Annotated[int | None, typer.Argument(help="default: every due campaign")] = None,
    take_over: Annotated[bool, typer.Option(
        help="the previous dispatcher is dead: recover its claims now, not after the lease")]
    = False,
    until_done: Annotated[bool, typer.Option(
        help="keep going (sleeping while messages are held) until nothing is left")] = False,
    max_batches: Annotated[int | None, typer.Option(min=1)] = None,
    broker: Annotated[bool, typer.Option(
        help="enqueue the work for `shopcrm campaign worker` instead of sending here")]
    = False,
) -> None:
    """Send what is due, in-process (default) or on dramatiq workers (--broker)."""
    from shopcrm.campaigns.config import channels_from_settings, load_settings
    from shopcrm.campaigns.dispatch import Dispatcher

    context = _context()
    config = load_settings(context.settings)
    if broker:
        from shopcrm.campaigns.worker import enqueue

        try:
            queued = enqueue(context, config, campaign_id=campaign_id)
        finally:
            context.close()
        console.print(f"queued {queued} campaign(s) for the workers")
        return
    channels = channels_from_settings(config, sessions=context.sessions, clock=context.clock)
    try:
        dispatcher = Dispatcher(context, channels=channels, config=config)
        while True:
            report = dispatcher.run(campaign_id=campaign_id, take_over=take_over,
                                    max_batches=max_batches, actor=CLI)
            take_over = False
            t = report.total
            console.print(f"sent {t.sent:,}, failed {t.failed:,}, skipped {t.skipped:,}, "
                          f"held {t.held:,}, retrying {t.retried:,}, recovered "
                          f"{t.recovered_sent + t.recovered_pending:,}; finished "
                          f"{report.finished or '—'}")
            if not until_done or max_batches is not None:
                break
            due = dispatcher.next_due(campaign_id)
            if due is None:
                break
            wait = (due - context.clock.now()).total_seconds()
            time.sleep(min(max(wait, 0.05), 60.0))
    finally:
        channels.close()
        context.close()


@app.command("worker")
def worker(
    processes: Annotated[int, typer.Option(min=1, max=64)] = 2,
    threads: Annotated[int, typer.Option(min=1, max=64)] = 1,
) -> None:
    """Run dramatiq worker processes for the broker in ``broker_url`` (campaigns.toml)."""
    import subprocess
    import sys

    from shopcrm.campaigns.config import load_settings

    context = _context()
    config = load_settings(context.settings)
    context.close()
    if not config.broker_url:
        raise _refuse(ValueError("no broker_url in the campaign settings: dispatch runs "
                                 "in-process (`shopcrm campaign dispatch`)"))
    raise typer.Exit(subprocess.call([sys.executable, "-m", "dramatiq",
                                      "shopcrm.campaigns.worker", "--processes",
                                      str(processes), "--threads", str(threads)]))


@app.command("list")
def list_campaigns() -> None:
    """Campaigns with their exact counts."""
    from shopcrm.campaigns import service

    context = _context()
    try:
        with context.sessions() as session:
            found = service.list_campaigns(session)
            numbers = service.all_counts(session, [c.id for c in found],
                                         now=context.clock.now())
    finally:
        context.close()
    table = Table("id", "name", "channel", "status", "audience", "holdout", "sent",
                  "delivered", "failed", "skipped", "open")
    for c in found:
        n = numbers[c.id]
        table.add_row(str(c.id), c.name, c.channel, c.status, f"{n.audience:,}",
                      f"{n.holdout:,}", f"{n.accepted:,}", f"{n.delivered:,}",
                      f"{n.failed:,}", f"{n.skipped:,}", f"{n.open:,}")
    console.print(table)


@app.command("report")
def report(campaign_id: int,
           as_json: Annotated[bool, typer.Option("--json", help="machine-readable")] = False
           ) -> None:
    """Funnel, conversion and revenue against the holdout, lift with 95% intervals, ROI."""
    from shopcrm.campaigns.report import campaign_report, report_json

    context = _context()
    try:
        found = campaign_report(context, campaign_id=campaign_id)
    except CampaignError as exc:
        raise _refuse(exc) from exc
    finally:
        context.close()
    data = report_json(found)
    if as_json:
        typer.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    console.print(f"[bold]{found.name}[/] ({found.status}), attribution "
                  f"{found.attribution_days} days, cost {found.cost.total}")
    funnel = Table("step", "customers", "of previous")
    for step in found.funnel:
        funnel.add_row(step.name, f"{step.count:,}",
                       "" if step.of_previous is None else f"{step.of_previous:.1%}")
    console.print(funnel)
    lifts = Table("arm", "customers", "conversion", "holdout", "lift (abs)", "95% CI",
                  "revenue/customer lift", "verdict")
    for arm in data["arms"]:
        lift = arm.get("lift")
        if not lift:
            lifts.add_row(arm["name"], str(arm["customers"]), f"{arm['conversion_rate']:.2%}",
                          "", "", "", "", "too few customers")
            continue
        conv = lift["conversion"]
        lifts.add_row(arm["name"], f"{arm['customers']:,}", f"{conv['treated_rate']:.2%}",
                      f"{conv['control_rate']:.2%}", f"{conv['absolute']:+.2%}",
                      f"[{conv['ci'][0]:+.2%}, {conv['ci'][1]:+.2%}]",
                      f"{lift['revenue_per_customer']['absolute']:+.2f}", lift["verdict"])
    console.print(lifts)


@app.command("sync")
def sync() -> None:
    """Pull delivery receipts and replies (退订 / TD / T) from the configured SMS gateway."""
    from shopcrm.campaigns.config import load_settings
    from shopcrm.campaigns.inbound import pull_from_gateway

    context = _context()
    try:
        config = load_settings(context.settings)
        if config.sms is None:
            raise _refuse(ValueError("no SMS gateway configured"))
        if config.sms.provider != "gateway":
            raise _refuse(ValueError(
                f"{config.sms.provider} pushes receipts and replies to shopcrm; there is "
                "nothing to pull (see `shopcrm campaign callback-urls`)"))
        receipts, replies = pull_from_gateway(context, config)
    finally:
        context.close()
    console.print(f"receipts: {receipts.delivered:,} delivered, {receipts.undelivered:,} "
                  f"undelivered; replies: {replies.received:,}, unsubscribes "
                  f"{replies.unsubscribes:,}")


@app.command("mailbox")
def mailbox(limit: Annotated[int, typer.Option(min=1, help="messages per run")] = 500) -> None:
    """Read the unsubscribe/bounce mailbox over IMAP ([email] imap_*): mailto
    unsubscribes, bounces and complaints reach the suppression list (run it from cron
    every few minutes). Exit 2 when the mailbox cannot be read."""
    from shopcrm.campaigns.config import load_settings
    from shopcrm.campaigns.mailbox import MailboxError, poll_mailbox

    context = _context()
    try:
        config = load_settings(context.settings)
        outcome = poll_mailbox(context, config, limit=limit)
    except MailboxError as exc:
        raise _refuse(exc) from exc
    finally:
        context.close()
    console.print(f"mail read: {outcome.read:,}; unsubscribes {outcome.unsubscribes:,}, "
                  f"bounces {outcome.bounces:,} (soft {outcome.soft_bounces:,}), complaints "
                  f"{outcome.complaints:,}, already handled {outcome.duplicates:,}, left "
                  f"for a person {outcome.other + outcome.unmatched:,}, malformed "
                  f"{outcome.malformed:,}", soft_wrap=True)
    for problem in outcome.problems:
        console.print(f"[yellow]malformed: {problem}[/]", soft_wrap=True)


@app.command("callback-urls")
def callback_urls() -> None:
    """The URLs to enter in the Tencent / Alibaba Cloud SMS console for status reports
    and replies (they carry a secret: keep them out of tickets and chats)."""
    from shopcrm.campaigns.config import load_settings

    context = _context()
    try:
        config = load_settings(context.settings)
    finally:
        context.close()
    urls = config.callback_urls()
    if not urls:
        raise _refuse(ValueError(
            "no SMS cloud is configured: set [sms] provider = \"tencent\" or \"aliyun\""))
    for kind, url in urls.items():
        console.print(f"{kind}: {url}", soft_wrap=True)


def _when(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@coupons_app.command("create")
def coupons_create(
    name: str,
    value: Annotated[str, typer.Option(help="money off (or percent with --percent)")],
    valid_until: Annotated[str, typer.Option(help="ISO date-time")],
    valid_from: Annotated[str | None, typer.Option(help="default now")] = None,
    percent: bool = False,
    min_spend: Annotated[str | None, typer.Option()] = None,
    uses_per_code: Annotated[int, typer.Option(min=1)] = 1,
    generate: Annotated[int, typer.Option(min=0, help="codes to generate now")] = 0,
    prefix: str = "",
) -> None:
    """Create a coupon pool (optionally with generated codes)."""
    from shopcrm.campaigns import coupons

    context = _context()
    try:
        now = context.clock.now()
        with context.sessions.begin() as session:
            pool = coupons.create_pool(
                session, name=name, kind="percent" if percent else "amount",
                value=Decimal(value), valid_from=_when(valid_from) if valid_from else now,
                valid_until=_when(valid_until), uses_per_code=uses_per_code,
                min_spend=Decimal(min_spend) if min_spend else None, actor=CLI, now=now)
            made = coupons.generate_codes(session, pool_id=pool.id, count=generate,
                                          prefix=prefix, actor=CLI, now=now) if generate else 0
            pool_id = pool.id
    except (CampaignError, ArithmeticError, ValueError) as exc:
        raise _refuse(exc) from exc
    finally:
        context.close()
    console.print(f"coupon pool [bold]{pool_id}[/] created with {made:,} codes")
    typer.echo(pool_id)


@coupons_app.command("import")
def coupons_import(pool_id: int,
                   file: Annotated[Path, typer.Argument(exists=True, dir_okay=False,
                                                        help="one code per line")]) -> None:
    """Import codes made elsewhere into a pool."""
    from shopcrm.campaigns import coupons

    context = _context()
    try:
        with context.sessions.begin() as session:
            result = coupons.import_codes(
                session, pool_id=pool_id,
                codes=file.read_text(encoding="utf-8-sig").splitlines(),
                actor=CLI, now=context.clock.now())
    except CampaignError as exc:
        raise _refuse(exc) from exc
    finally:
        context.close()
    console.print(f"added {result.added:,}, already known {result.duplicates:,}, "
                  f"malformed {len(result.invalid):,}")


@coupons_app.command("sync")
def coupons_sync(pool_id: int) -> None:
    """Count redemptions of the pool's codes from the orders in the warehouse."""
    from shopcrm.campaigns import coupons

    context = _context()
    try:
        with context.sessions.begin() as session:
            changed = coupons.sync_redemptions(session, context.warehouse, pool_id=pool_id)
            stats = coupons.pool_stats(session, pool_id)
    except CampaignError as exc:
        raise _refuse(exc) from exc
    finally:
        context.close()
    console.print(f"{changed:,} codes changed; {stats}")


@contacts_app.command("import")
def contacts_import(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help=(
        "CSV: customer_id, kind (wechat/push), app_id, address, platform, unionid"))],
    strict: Annotated[bool, typer.Option(
        help="import nothing when any row is rejected")] = False,
) -> None:
    """Import contact points; every rejected row is listed with its line. Exit 1 when
    rows were rejected, 2 when the file was refused (nothing written)."""
    from shopcrm.contacts.importer import ContactImportRefused, import_contacts

    context = _context()
    try:
        with context.sessions.begin() as session:
            result = import_contacts(session, file, now=context.clock.now(), actor=CLI,
                                     strict=strict)
    except ContactImportRefused as exc:
        for line, reason in exc.rejects:
            console.print(f"line {line}: {reason}", markup=False, highlight=False)
        raise _refuse(exc) from exc
    finally:
        context.close()
    for line, reason in result.rejects:
        console.print(f"line {line}: {reason}", markup=False, highlight=False)
    console.print(f"{result.rows:,} rows: added {result.added:,}, updated "
                  f"{result.updated:,}, unchanged {result.unchanged:,}, "
                  f"rejected {len(result.rejects):,}")
    if result.rejects:
        raise typer.Exit(1)
