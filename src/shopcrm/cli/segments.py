"""``shopcrm segment …`` and ``shopcrm tag …`` — thin shells over
:mod:`shopcrm.segments.audience` and :mod:`shopcrm.segments.tags`.

Refusals (an invalid rule with its paths, no features run yet, an unknown segment)
print in red and exit 2. Exports from the CLI are audited as ``cli`` and unmasked (the
operator of the machine sees the data anyway).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from shopcrm.accounts.audit import Actor
from shopcrm.context import AppContext, build_context
from shopcrm.settings import Settings

segment_app = typer.Typer(help="Saved segments: list, estimate, export, snapshot.",
                          no_args_is_help=True)
tag_app = typer.Typer(help="The tag library: list, compute, tag customers.",
                      no_args_is_help=True)
console = Console()
CLI = Actor(None, "cli")


def _context() -> AppContext:
    return build_context(Settings())


def _refuse(exc: Exception) -> typer.Exit:
    console.print(f"[red]{exc}[/]")
    return typer.Exit(2)


def _refusals() -> tuple[type[Exception], ...]:
    from shopcrm.segments import audience, tags
    from shopcrm.segments.compiler import NoFeaturesYet
    from shopcrm.segments.rules import RuleError

    return (RuleError, NoFeaturesYet, audience.SegmentError, audience.SegmentNotFound,
            audience.SnapshotNotFound, tags.TagError, tags.TagNotFound)


def _definition(text: str) -> Any:
    """A rule as JSON text, ``@file.json`` or ``-`` (stdin)."""
    if text == "-":
        text = sys.stdin.read()
    elif text.startswith("@"):
        text = Path(text[1:]).read_text(encoding="utf-8")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise _refuse(ValueError(f"not JSON: {exc}")) from exc


@segment_app.command("list")
def segment_list() -> None:
    """Saved segments with their snapshot counts."""
    from shopcrm.segments import audience

    context = _context()
    try:
        with context.sessions() as session:
            counts = audience.snapshot_counts(session)
            table = Table("id", "name", "owner", "updated", "snapshots")
            for s in audience.list_segments(session):
                table.add_row(str(s.id), s.name, s.owner, f"{s.updated_at:%Y-%m-%d %H:%M}",
                              str(counts.get(s.id, 0)))
    finally:
        context.close()
    console.print(table)


@segment_app.command("show")
def segment_show(segment_id: int) -> None:
    """A segment's definition, size now, and snapshots."""
    from shopcrm.segments import audience

    context = _context()
    try:
        with context.sessions() as session:
            row = audience.get_segment(session, segment_id)
            console.print(f"[bold]{row.name}[/] (#{row.id}, {row.owner})")
            if row.description:
                console.print(row.description)
            console.print_json(json.dumps(row.definition, ensure_ascii=False))
            found = audience.estimate(context, session, row.definition, segment_id=segment_id)
            console.print(f"members now: [bold]{found.size:,}[/] of {found.universe:,} "
                          f"({found.seconds * 1000:.0f} ms)")
            for snap in audience.list_snapshots(session, segment_id)[:20]:
                console.print(f"  snapshot #{snap.id} {snap.taken_at:%Y-%m-%d %H:%M} "
                              f"{snap.size:,} — {snap.reason}")
    except _refusals() as exc:
        raise _refuse(exc) from exc
    finally:
        context.close()


@segment_app.command("estimate")
def segment_estimate(
    definition: Annotated[str, typer.Argument(help="rule JSON, @file.json or - for stdin")],
) -> None:
    """How many customers a rule selects now (nothing is saved)."""
    from shopcrm.segments import audience

    context = _context()
    try:
        with context.sessions() as session:
            found = audience.estimate(context, session, _definition(definition))
    except _refusals() as exc:
        raise _refuse(exc) from exc
    finally:
        context.close()
    console.print(f"[bold]{found.size:,}[/] of {found.universe:,} customers "
                  f"({found.seconds * 1000:.0f} ms, features run {found.features_run})")


@segment_app.command("create")
def segment_create(
    name: str,
    definition: Annotated[str, typer.Argument(help="rule JSON, @file.json or - for stdin")],
    description: Annotated[str | None, typer.Option(help="what the segment is for")] = None,
) -> None:
    """Save a segment."""
    from shopcrm.segments import audience

    context = _context()
    try:
        with context.sessions.begin() as session:
            row = audience.create_segment(context, session, name=name,
                                          definition=_definition(definition),
                                          description=description, actor=CLI)
            segment_id = row.id
    except _refusals() as exc:
        raise _refuse(exc) from exc
    finally:
        context.close()
    console.print(f"segment [bold]#{segment_id}[/] saved")


@segment_app.command("export")
def segment_export(
    segment_id: int,
    out: Annotated[Path, typer.Option("--out", "-o", help="CSV file to write")],
) -> None:
    """Every member as CSV (audited)."""
    from shopcrm.accounts.permissions import Permission
    from shopcrm.accounts.service import Principal
    from shopcrm.segments import audience

    context = _context()
    operator = Principal(user_id=0, username="cli", role="admin",
                         permissions=frozenset(Permission), via="cli")
    try:
        _, lines = audience.export_csv(context, segment_id, principal=operator, actor=CLI)
        with open(out, "w", encoding="utf-8", newline="") as handle:
            for chunk in lines:
                handle.write(chunk)
    except _refusals() as exc:
        raise _refuse(exc) from exc
    finally:
        context.close()
    console.print(f"wrote {out}")


@segment_app.command("snapshot")
def segment_snapshot(
    segment_id: int,
    reason: Annotated[str, typer.Option(help="why (a campaign, a report)")] = "cli",
) -> None:
    """Freeze the current members."""
    from shopcrm.segments import audience

    context = _context()
    try:
        snapshot_id, ids = audience.snapshot_members(context, segment_id, reason=reason,
                                                     actor=CLI)
    except _refusals() as exc:
        raise _refuse(exc) from exc
    finally:
        context.close()
    console.print(f"snapshot [bold]#{snapshot_id}[/]: {len(ids):,} members")


@segment_app.command("diff")
def segment_diff(before: int, after: int) -> None:
    """Who entered and who left between two snapshots."""
    from shopcrm.segments import audience

    context = _context()
    try:
        with context.sessions() as session:
            found = audience.diff_snapshots(context, session, before, after, limit=50)
    except _refusals() as exc:
        raise _refuse(exc) from exc
    finally:
        context.close()
    console.print(f"{found.before:,} → {found.after:,} members; stayed {found.stayed:,}")
    console.print(f"entered (first 50): {', '.join(map(str, found.entered)) or '—'}")
    console.print(f"left (first 50): {', '.join(map(str, found.left)) or '—'}")


@segment_app.command("clv")
def segment_clv() -> None:
    """Fit the CLV models on the shop's purchases and keep a CLV snapshot."""
    from shopcrm.segments.clv import NotEnoughCustomers
    from shopcrm.segments.clv_models import FitError
    from shopcrm.segments.clv_service import compute_clv

    context = _context()
    try:
        run = compute_clv(context)
    except (NotEnoughCustomers, FitError) as exc:
        raise _refuse(exc) from exc
    finally:
        context.close()
    console.print(f"CLV run [bold]{run.run_id}[/]: {run.customers:,} customers")
    for note in run.notes:
        console.print(f"  note: {note}")


@tag_app.command("list")
def tag_list() -> None:
    """The tag library."""
    from shopcrm.segments import tags

    context = _context()
    try:
        with context.sessions() as session:
            table = Table("key", "name", "category", "kind", "schedule", "members", "computed")
            for t in tags.list_tags(session):
                table.add_row(t.key, t.name, t.category, "rule" if t.rule else "manual",
                              t.schedule, f"{t.members:,}",
                              f"{t.computed_at:%Y-%m-%d %H:%M}" if t.computed_at else "")
    finally:
        context.close()
    console.print(table)


@tag_app.command("show")
def tag_show(key: str) -> None:
    """A tag's rule and newest members."""
    from shopcrm.segments import tags

    context = _context()
    try:
        with context.sessions() as session:
            t = tags.get_tag(session, key)
            console.print(f"[bold]{t.name}[/] ({t.key}, {t.category}, {t.schedule}, "
                          f"{t.members:,} members)")
            if t.description:
                console.print(t.description)
            if t.rule:
                console.print_json(json.dumps(t.rule, ensure_ascii=False))
            stays, _ = tags.tag_members(session, key, size=20)
            for s in stays:
                console.print(f"  #{s.customer_id} since {s.since:%Y-%m-%d %H:%M} ({s.source})")
    except _refusals() as exc:
        raise _refuse(exc) from exc
    finally:
        context.close()


@tag_app.command("compute")
def tag_compute(
    key: Annotated[list[str] | None, typer.Option("--key", help="only these tags; repeat")]
    = None,
) -> None:
    """Compute computed tags now."""
    from shopcrm.segments import tags

    context = _context()
    try:
        done = tags.compute_tags(context, keys=key, actor=CLI)
    except _refusals() as exc:
        raise _refuse(exc) from exc
    finally:
        context.close()
    table = Table("tag", "members", "entered", "left", "ms", "error")
    for o in done:
        table.add_row(o.key, f"{o.members:,}", f"{o.entered:,}", f"{o.left:,}",
                      f"{o.seconds * 1000:.0f}", o.error or "")
    console.print(table)
    if any(o.error for o in done):
        raise typer.Exit(1)


@tag_app.command("add")
def tag_add(key: str, customer_id: list[int]) -> None:
    """Tag customers by hand (manual tags; audited)."""
    from shopcrm.segments import tags

    context = _context()
    try:
        with context.sessions.begin() as session:
            added = tags.add_members(context, session, key, customer_id, actor=CLI)
    except _refusals() as exc:
        raise _refuse(exc) from exc
    finally:
        context.close()
    console.print(f"tagged {added:,} customers")


@tag_app.command("remove")
def tag_remove(key: str, customer_id: list[int]) -> None:
    """Untag customers by hand (manual tags; audited)."""
    from shopcrm.segments import tags

    context = _context()
    try:
        with context.sessions.begin() as session:
            removed = tags.remove_members(context, session, key, customer_id, actor=CLI)
    except _refusals() as exc:
        raise _refuse(exc) from exc
    finally:
        context.close()
    console.print(f"untagged {removed:,} customers")


@tag_app.command("upload")
def tag_upload(key: str, path: Path) -> None:
    """Tag every customer a CSV names (IDs, phones or e-mails); bad rows are listed."""
    from shopcrm.segments import tags

    context = _context()
    try:
        with context.sessions.begin() as session:
            report = tags.upload_members(context, session, key, path.read_bytes(), actor=CLI)
    except _refusals() as exc:
        raise _refuse(exc) from exc
    finally:
        context.close()
    console.print(f"{report.rows:,} rows: {len(report.customers):,} customers, "
                  f"{report.added:,} newly tagged, {report.already:,} already")
    for line, reason in report.bad[:100]:
        console.print(f"  line {line}: {reason}")
