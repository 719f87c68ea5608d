"""``shopcrm loyalty …``: the scheduled jobs (earn, reverse, expire, tiers, birthdays),
balances, adjustments, opening balances and the report. Thin: each command builds the
context, calls services, prints; refusals exit with code 2."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from shopcrm.accounts import audit
from shopcrm.accounts.permissions import Permission
from shopcrm.context import AppContext, build_context
from shopcrm.loyalty import LoyaltyError
from shopcrm.settings import Settings

app = typer.Typer(help="Points, tiers and benefits.", no_args_is_help=True)
console = Console()
CLI = audit.Actor(None, "cli")


def _context() -> AppContext:
    return build_context(Settings())


def _refuse(exc: Exception) -> typer.Exit:
    console.print(f"[red]{exc}[/]")
    return typer.Exit(2)


def _when(at: str | None, context: AppContext) -> datetime:
    if not at:
        return context.clock.now()
    from datetime import UTC

    moment = datetime.fromisoformat(at)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


AtOption = Annotated[str | None, typer.Option(help="run as of this ISO time (default: now)")]


@app.command("earn")
def earn(at: AtOption = None) -> None:
    """Credit points for every completed order not credited yet."""
    from shopcrm.loyalty.earning import earn_completed_orders

    context = _context()
    try:
        report = earn_completed_orders(context.sessions, warehouse=context.warehouse,
                                       now=_when(at, context))
    finally:
        context.close()
    console.print(f"earned {report.points:,} points on {report.earned:,} orders; "
                  f"already credited {report.already:,}, no points {report.zero_points:,}, "
                  f"unknown customer {report.unknown_customer:,}, "
                  f"over budget {report.over_budget:,}, "
                  f"first-purchase bonuses {report.first_purchase:,}")


@app.command("reverse-refunds")
def reverse_refunds(at: AtOption = None) -> None:
    """Take back points of refunded or cancelled orders (in proportion)."""
    from shopcrm.loyalty.earning import reverse_refunds as job

    context = _context()
    try:
        report = job(context.sessions, warehouse=context.warehouse, now=_when(at, context))
    finally:
        context.close()
    console.print(f"reversed {report.points:,} points on {report.reversed:,} orders "
                  f"({report.orders:,} refunded orders seen, {report.already:,} reversed "
                  "before)")


@app.command("expire")
def expire(at: AtOption = None) -> None:
    """Expire every lot whose date has passed."""
    from shopcrm.loyalty.ledger import expire_due

    context = _context()
    customers = points = 0
    try:
        now = _when(at, context)
        while True:
            with context.sessions.begin() as session:
                touched, expired = expire_due(session, now=now)
            customers, points = customers + touched, points + expired
            if not touched:
                break
    finally:
        context.close()
    console.print(f"expired {points:,} points of {customers:,} customers")


@app.command("expiring")
def expiring(days: int = 30, at: AtOption = None) -> None:
    """Customers whose points expire within DAYS (the notice journeys send)."""
    from shopcrm.loyalty.ledger import expiring_soon

    context = _context()
    table = Table("customer", "points", "first expiry")
    try:
        with context.sessions() as session:
            for row in expiring_soon(session, now=_when(at, context), days=days):
                table.add_row(str(row.customer_id), f"{row.points:,}",
                              f"{row.first_expiry:%Y-%m-%d}")
    finally:
        context.close()
    console.print(table)


@app.command("tiers")
def tiers(at: AtOption = None) -> None:
    """Evaluate every member's tier: upgrades now, downgrades after period end + grace."""
    from shopcrm.loyalty.tiers import customer_metrics, evaluate_tiers

    context = _context()
    try:
        now = _when(at, context)
        with context.sessions.begin() as session:
            metrics = customer_metrics(session, warehouse=context.warehouse, now=now)
            run = evaluate_tiers(session, metrics=metrics, now=now)
    finally:
        context.close()
    console.print(f"evaluated {run.evaluated:,}: joined {run.joined:,}, "
                  f"upgraded {run.upgraded:,}, downgraded {run.downgraded:,}")


@app.command("birthdays")
def birthdays(rule: str = "birthday", at: AtOption = None) -> None:
    """Grant birthday-month points (once a year per member)."""
    from shopcrm.loyalty.tiers import grant_birthday_bonuses

    context = _context()
    try:
        now = _when(at, context)
        with context.sessions.begin() as session:
            granted = grant_birthday_bonuses(session, now=now, rule_code=rule)
    finally:
        context.close()
    console.print(f"birthday points granted to {granted:,} members")


@app.command("balance")
def balance(customer_id: int) -> None:
    """A customer's balance, tier and open lots."""
    from shopcrm.loyalty.benefits import member_card

    context = _context()
    try:
        with context.sessions() as session:
            card = member_card(session, warehouse=context.warehouse, customer_id=customer_id,
                               now=context.clock.now())
    except LoyaltyError as exc:
        raise _refuse(exc) from exc
    finally:
        context.close()
    console.print(f"customer {customer_id}: [bold]{card.balance:,}[/] points, tier "
                  f"[bold]{card.tier.name}[/] ({card.tier.code})")
    table = Table("lot", "remaining", "of", "earned", "expires")
    for lot in card.lots:
        table.add_row(str(lot.id), f"{lot.remaining:,}", f"{lot.points:,}",
                      f"{lot.earned_at:%Y-%m-%d}",
                      f"{lot.expires_at:%Y-%m-%d}" if lot.expires_at else "never")
    console.print(table)


@app.command("adjust")
def adjust(customer_id: int, points: int,
           reason: Annotated[str, typer.Option(help="mandatory: why")],
           key: Annotated[str, typer.Option(help="idempotency key")]) -> None:
    """Add (or with a negative number deduct) points by hand; audited."""
    from shopcrm.loyalty.ledger import adjust as service

    context = _context()
    try:
        with context.sessions.begin() as session:
            movement = service(session, customer_id=customer_id, points=points, reason=reason,
                               key=f"cli:{key}", now=context.clock.now(), actor=CLI,
                               granted=frozenset({Permission.MANAGE_LOYALTY}))
    except LoyaltyError as exc:
        raise _refuse(exc) from exc
    finally:
        context.close()
    console.print(("replayed: nothing changed; " if movement.replayed else "")
                  + f"balance {movement.balance:,}")


@app.command("import-balances")
def import_balances(path: Path,
                    reference: Annotated[str, typer.Option(
                        help="names the migration, e.g. old-crm-2026; a second import with "
                             "the same reference changes nothing")]) -> None:
    """Opening balances from another system: CSV customer_id,points[,expires_at]."""
    from shopcrm.loyalty.opening import import_balances as service
    from shopcrm.loyalty.opening import read_balances

    context = _context()
    try:
        rows = read_balances(path)
        with context.sessions.begin() as session:
            imported, replayed = service(session, rows=rows, reference=reference,
                                         now=context.clock.now(), actor=CLI)
    except LoyaltyError as exc:
        raise _refuse(exc) from exc
    finally:
        context.close()
    console.print(f"imported {imported:,} opening balances, {replayed:,} already there")


@app.command("rule")
def rule(code: str, kind: str, name: str, points: int = 0,
         cost_per_point: Annotated[str, typer.Option(help="money per point")] = "0.01",
         budget: Annotated[str | None, typer.Option(help="money; empty for none")] = None,
         inactive: bool = False) -> None:
    """Create or change a bonus rule (first_purchase, birthday, review, checkin, campaign)."""
    from shopcrm.loyalty.ledger import upsert_rule
    from shopcrm.loyalty.rules import BonusKind

    context = _context()
    try:
        with context.sessions.begin() as session:
            upsert_rule(session, code=code, kind=BonusKind(kind), name=name, points=points,
                        cost_per_point=Decimal(cost_per_point),
                        budget=Decimal(budget) if budget else None, active=not inactive,
                        actor=CLI, now=context.clock.now())
    except (LoyaltyError, ValueError, ArithmeticError) as exc:
        raise _refuse(exc) from exc
    finally:
        context.close()
    console.print(f"rule [bold]{code}[/] saved")


@app.command("report")
def report() -> None:
    """Points issued / redeemed / expired and liability by month; budgets per rule."""
    from shopcrm.loyalty import reports

    context = _context()
    try:
        with context.sessions() as session:
            months = reports.by_month(session)
            rules = reports.by_rule(session)
            owed = reports.liability(session, now=context.clock.now())
    finally:
        context.close()
    console.print(f"outstanding: [bold]{owed.points:,}[/] points worth {owed.value:,} "
                  f"({owed.members:,} members, debts {owed.debt_points:,} points)")
    table = Table("month", "issued", "redeemed", "expired", "reversed", "adjusted",
                  "liability")
    for m in months:
        table.add_row(m.month, f"{m.issued:,}", f"{m.redeemed:,}", f"{m.expired:,}",
                      f"{m.reversed:,}", f"{m.adjusted:,}", f"{m.liability:,}")
    console.print(table)
    budgets = Table("rule", "kind", "issued points", "spent", "budget", "used")
    for r in rules:
        budgets.add_row(r.code, r.kind, f"{r.issued_points:,}", f"{r.spent:,}",
                        f"{r.budget:,}" if r.budget is not None else "—",
                        f"{r.budget_used:.0%}" if r.budget_used is not None else "—")
    console.print(budgets)
