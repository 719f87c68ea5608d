"""``shopcrm`` — commands are thin: parse arguments, build the context, call a service,
print the result. Long steps show a Rich progress display."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from shopcrm.cli.campaigns import app as campaign_app
from shopcrm.cli.loyalty import app as loyalty_app
from shopcrm.cli.segments import segment_app, tag_app
from shopcrm.context import AppContext, build_context
from shopcrm.settings import Settings

if TYPE_CHECKING:
    from shopcrm.demo.generate import DemoManifest

app = typer.Typer(help="shopcrm: a self-hosted CRM and customer data platform for shops.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
db_app = typer.Typer(help="Operational store maintenance.", no_args_is_help=True)
app.add_typer(db_app, name="db")
user_app = typer.Typer(help="Users and API keys.", no_args_is_help=True)
app.add_typer(user_app, name="user")
app.add_typer(loyalty_app, name="loyalty")
app.add_typer(segment_app, name="segment")
app.add_typer(tag_app, name="tag")
app.add_typer(campaign_app, name="campaign")
console = Console()


def _context() -> AppContext:
    return build_context(Settings())


@contextmanager
def _spinner(title: str) -> Iterator[Progress]:
    with Progress(SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(),
                  TimeElapsedColumn(), console=console, transient=True) as progress:
        yield progress


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the operational store to the newest schema."""
    from shopcrm.store import migrate

    context = build_context(Settings(), migrate_db=False)
    migrate.upgrade(context.engine)
    console.print(f"database at revision [bold]{migrate.current_revision(context.engine)}[/]")
    context.close()


@user_app.command("create")
def user_create(
    username: str,
    role: Annotated[str, typer.Option(help="admin, marketer, analyst, agent or a custom role")]
    = "admin",
    password: Annotated[str | None, typer.Option(help="prompted for when not given")] = None,
    display_name: str | None = None,
) -> None:
    """Create a user (the first one should be an admin)."""
    from shopcrm.accounts import audit
    from shopcrm.accounts.service import AccountError, create_user

    secret = password or typer.prompt("password", hide_input=True, confirmation_prompt=True)
    context = _context()
    try:
        with context.sessions.begin() as session:
            user = create_user(session, username=username, password=secret, role=role,
                               now=context.clock.now(), display_name=display_name)
            audit.record(session, audit.Actor(None, "cli"), "user.create",
                         at=context.clock.now(), target_type="user", target_id=str(user.id),
                         details={"username": username, "role": role})
    except AccountError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from exc
    finally:
        context.close()
    console.print(f"user [bold]{username}[/] created with role [bold]{role}[/]")


@user_app.command("list")
def user_list() -> None:
    """List users and their roles."""
    from sqlalchemy import select

    from shopcrm.store.models import Role, User

    context = _context()
    with context.sessions() as session:
        roles = {r.id: r.name for r in session.scalars(select(Role))}
        table = Table("id", "username", "role", "active", "last login")
        for user in session.scalars(select(User).order_by(User.id)):
            table.add_row(str(user.id), user.username, roles.get(user.role_id, ""),
                          "yes" if user.is_active else "no",
                          str(user.last_login_at or ""))
    context.close()
    console.print(table)


@user_app.command("api-key")
def user_api_key(
    username: str,
    name: Annotated[str, typer.Option(help="what the key is for")],
    scope: Annotated[list[str] | None, typer.Option(help="permission; repeat; default all "
                                                         "of the user's role")] = None,
) -> None:
    """Create an API key for a user; the key is printed once."""
    from sqlalchemy import select

    from shopcrm.accounts import audit
    from shopcrm.accounts.service import create_api_key
    from shopcrm.store.models import Role, User

    context = _context()
    try:
        with context.sessions.begin() as session:
            user = session.scalar(select(User).where(User.username == username))
            if user is None:
                console.print(f"[red]no user {username!r}[/]")
                raise typer.Exit(2)
            role = session.get(Role, user.role_id)
            granted = set(role.permissions if role else [])
            scopes = list(scope) if scope else sorted(granted)
            beyond = sorted(set(scopes) - granted)
            if beyond:
                console.print(f"[red]the role {role.name if role else ''} lacks {beyond}[/]")
                raise typer.Exit(2)
            created = create_api_key(session, user_id=user.id, name=name, scopes=scopes,
                                     now=context.clock.now(), actor=audit.Actor(None, "cli"))
    finally:
        context.close()
    console.print(f"API key (shown once): [bold]{created.key}[/]")


@app.command("formats")
def formats() -> None:
    """List the import formats."""
    from shopcrm.ingest.formats import FORMATS

    table = Table("format", "what", "file")
    for spec in FORMATS.values():
        table.add_row(spec.name, spec.title, "/".join(spec.file_kinds))
    table.add_row("generic", "any CSV / JSONL / XLSX with a column-mapping file (--mapping)",
                  "csv/jsonl/xlsx")
    console.print(table)


@app.command("import")
def import_file(
    format_name: Annotated[str, typer.Argument(metavar="FORMAT", help="see `shopcrm formats`")],
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    mapping: Annotated[Path | None, typer.Option(help="column mapping (generic format)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
) -> None:
    """Import a shop export; prints read / imported / updated / duplicate / rejected."""
    from shopcrm.ingest.errors import ImportFileError
    from shopcrm.ingest.service import import_file as do_import

    context = _context()
    try:
        with _spinner("import") as progress:
            task = progress.add_task(f"{format_name}: starting", total=None)
            report = do_import(
                context, format_name, file, mapping=mapping,
                progress=lambda msg: progress.update(task, description=f"{format_name}: {msg}"))
    except ImportFileError as exc:
        console.print(f"[red]import refused[/]: {exc}")
        raise typer.Exit(2) from exc
    except KeyError as exc:
        console.print(f"[red]{exc.args[0]}[/]")
        raise typer.Exit(2) from exc
    finally:
        context.close()
    if as_json:
        console.print_json(json.dumps(report.as_dict(), ensure_ascii=False))
        return
    print_report(report)


def print_report(report: object) -> None:
    from shopcrm.ingest.report import ImportReport

    assert isinstance(report, ImportReport)
    console.print(
        f"[bold]{report.file.name}[/] ({report.format}, {report.encoding}): "
        f"read {report.rows_read:,} rows · {report.unit}: imported {report.imported:,} · "
        f"updated {report.updated:,} · duplicate {report.duplicates:,} · "
        f"rejected {report.rejected:,} rows · identities new {report.identities_new:,}, "
        f"updated {report.identities_updated:,}")
    for line, reason in report.sample_rejects[:5]:
        console.print(f"  [yellow]line {line}[/]: {reason}")
    if report.rejects_path:
        console.print(f"  all rejected rows with reasons: {report.rejects_path}")
    if report.resolution:
        r = report.resolution
        console.print(f"  identity resolution ({r['mode']}): {r['merges']:,} merges, "
                      f"{r['splits']:,} splits, {r['reviews_added']:,} to review")
    if report.message:
        console.print(f"  [yellow]{report.message}[/]")


@app.command("imports")
def list_imports(limit: int = 20) -> None:
    """Show the most recent import batches."""
    from shopcrm.ingest.service import recent_batches

    context = _context()
    table = Table("id", "format", "file", "status", "read", "imported", "updated", "dup",
                  "rejected", "started")
    for b in recent_batches(context, limit=limit):
        table.add_row(str(b.id), b.format, b.file_name, b.status, f"{b.rows_read:,}",
                      f"{b.imported:,}", f"{b.updated:,}", f"{b.duplicates:,}",
                      f"{b.rejected:,}", b.started_at.strftime("%Y-%m-%d %H:%M"))
    console.print(table)
    context.close()


@app.command("compute")
def compute(
    as_json: Annotated[bool, typer.Option("--json", help="print the summary as JSON")] = False,
) -> None:
    """Compute every customer's features, RFM, tiers and lifecycle; keep the snapshot."""
    from pydantic import ValidationError

    from shopcrm.segments.service import compute_features
    from shopcrm.segments.settings import load_settings, settings_path

    context = _context()
    try:
        settings = load_settings(context.settings.home)
    except ValidationError as exc:
        context.close()
        console.print(f"[red]invalid settings in {settings_path(context.settings.home)}[/]:\n{exc}")
        raise typer.Exit(2) from exc
    try:
        with _spinner("compute") as progress:
            task = progress.add_task("features", total=None)
            result = compute_features(
                context, settings=settings, reason="cli",
                progress=lambda msg: progress.update(task, description=msg))
    finally:
        context.close()
    if as_json:
        console.print_json(json.dumps({
            "run_id": result.run_id, "as_of": result.as_of.isoformat(),
            "customers": result.customers, "buyers": result.buyers,
            "transitions": result.transitions, "seconds": round(result.seconds, 3),
            "stages": result.stages, "tiers": result.tiers, "rfm_cn": result.rfm_cn,
            "rfm_en": result.rfm_en, "tags": result.tags}, ensure_ascii=False))
        return
    console.print(
        f"run [bold]{result.run_id}[/] as of {result.as_of:%Y-%m-%d %H:%M} UTC: "
        f"{result.customers:,} customers, {result.buyers:,} buyers, "
        f"{result.transitions:,} lifecycle transitions, {result.seconds:.1f} s")
    for title, counts in (("lifecycle stage", result.stages), ("value tier", result.tiers),
                          ("RFM (8 classes)", result.rfm_cn), ("RFM (segments)", result.rfm_en),
                          ("tag", result.tags)):
        table = Table(title, "customers")
        for name, count in sorted(counts.items(), key=lambda kv: -kv[1]):
            table.add_row(name, f"{count:,}")
        console.print(table)


@app.command("demo-data")
def demo_data(
    customers: Annotated[int, typer.Option(min=10)] = 20_000,
    seed: int = 42,
    out: Annotated[Path | None, typer.Option(help="folder; default <home>/demo")] = None,
) -> None:
    """Generate a realistic synthetic shop as real-format export files."""
    target = out or Settings().home / "demo"
    manifest = _generate(target, customers, seed)
    for f in manifest.files:
        console.print(f"  {f.format:<20} {f.rows:>10,} rows  {f.path}")
    console.print(f"  ground truth: {manifest.ground_truth}")


def _generate(target: Path, customers: int, seed: int) -> DemoManifest:
    from shopcrm.demo.generate import generate_demo_shop

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                  MofNCompleteColumn(), TimeElapsedColumn(), console=console) as progress:
        task = progress.add_task("generating", total=None)

        def report(step: str, done: int, total: int) -> None:
            progress.update(task, description=f"generating {step}", completed=done, total=total)

        return generate_demo_shop(target, customers=customers, seed=seed, progress=report)


@app.command("demo")
def demo(
    customers: Annotated[int, typer.Option(min=10)] = 20_000,
    seed: int = 42,
    serve: Annotated[bool, typer.Option(help="serve the web app afterwards")] = True,
    host: str = "127.0.0.1",
    port: int = 8000,
) -> None:
    """Generate the demo shop, import it through the real importers, and serve it."""
    from shopcrm.ingest.service import import_file as do_import

    settings = Settings()
    manifest = _generate(settings.home / "demo", customers, seed)
    context = build_context(settings)
    try:
        for f in manifest.files:
            with _spinner("import") as progress:
                task = progress.add_task(f"importing {f.path.name}", total=None)
                report = do_import(context, f.format, f.path,
                                   progress=_describer(progress, task, f.path.name))
            print_report(report)
        _demo_compute(context)
        _demo_users(context)
        _demo_tickets(context)
    finally:
        context.close()
    if serve:
        run_server(host, port)


DEMO_PASSWORD = "shopcrm-demo"


def _demo_users(context: AppContext) -> None:
    """An admin and a service agent (who sees masked phones) to try the demo with."""
    from sqlalchemy import select

    from shopcrm.accounts.service import create_user
    from shopcrm.store.models import User

    with context.sessions.begin() as session:
        for username, role in (("admin", "admin"), ("agent", "agent")):
            if session.scalar(select(User).where(User.username == username)) is None:
                create_user(session, username=username, password=DEMO_PASSWORD, role=role,
                            now=context.clock.now())
    console.print(
        f"[bold green]demo logins[/]: admin / {DEMO_PASSWORD}  ·  agent / {DEMO_PASSWORD} "
        "(the agent sees masked phones)")


def _demo_compute(context: AppContext) -> None:
    """What a shop runs after its imports: features, RFM, lifecycle and tags; points for
    completed orders; the member tiers those points and orders earn."""
    from shopcrm.loyalty.earning import earn_completed_orders
    from shopcrm.loyalty.tiers import customer_metrics, evaluate_tiers
    from shopcrm.segments.service import compute_features

    now = context.clock.now()
    with _spinner("compute") as progress:
        task = progress.add_task("computing features, RFM, lifecycle and tags", total=None)
        result = compute_features(context, reason="demo",
                                  progress=lambda m: progress.update(task, description=m))
        progress.update(task, description="loyalty: points for completed orders")
        earned = earn_completed_orders(context.sessions, warehouse=context.warehouse, now=now)
        progress.update(task, description="loyalty: member tiers")
        with context.sessions.begin() as session:
            metrics = customer_metrics(session, warehouse=context.warehouse, now=now)
            tiers = evaluate_tiers(session, metrics=metrics, now=now)
    console.print(f"computed {result.customers:,} customers, {len(result.tags)} tags; "
                  f"{earned.points:,} points on {earned.earned:,} orders; "
                  f"{tiers.upgraded + tiers.joined:,} members placed in tiers")


def _demo_tickets(context: AppContext) -> None:
    """A month of service tickets worked by the demo agent (the Service page)."""
    from shopcrm.demo.tickets import seed_demo_tickets

    with context.sessions.begin() as session:
        made = seed_demo_tickets(session, now=context.clock.now())
    if made:
        console.print(f"service desk: {made} demo tickets")


def _describer(progress: Progress, task: TaskID, name: str) -> Callable[[str], None]:
    def describe(message: str) -> None:
        progress.update(task, description=f"importing {name}: {message}")

    return describe


@app.command("serve")
def serve_command(host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve the web app and API."""
    run_server(host, port)


def run_server(host: str, port: int) -> None:
    import uvicorn

    from shopcrm.api.app import create_app

    console.print(f"shopcrm on [bold]http://{host}:{port}/[/]  (API docs at /docs)")
    uvicorn.run(create_app(), host=host, port=port, log_level="info")


if __name__ == "__main__":  # pragma: no cover
    app()


identity_app = typer.Typer(help="Identity resolution: one customer ID per person.",
                           no_args_is_help=True)
app.add_typer(identity_app, name="identity")


@identity_app.command("resolve")
def identity_resolve(
    retrain: Annotated[bool, typer.Option(help="train the match model again first")] = False,
    spark: Annotated[str | None, typer.Option(
        metavar="MASTER",
        help="score probable matches on Spark (local[*], spark://host:7077…) instead of "
             "DuckDB, with the same model; needs pyspark")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the result as JSON")] = False,
) -> None:
    """Resolve every record (imports resolve what they bring by themselves)."""
    from shopcrm.identity.resolve import ResolutionSettings
    from shopcrm.identity.service import resolve_everything

    context = _context()
    session = None
    try:
        settings = None
        if spark:
            from shopcrm.identity.matching import spark_session

            session = spark_session(spark, scratch=context.settings.staging_dir / "spark")
            settings = ResolutionSettings(spark=session)
        with _spinner("identity") as progress:
            progress.add_task("resolving identities", total=None)
            result = resolve_everything(context, retrain=retrain, settings=settings)
    finally:
        if session is not None:
            session.stop()
        context.close()
    if as_json:
        console.print_json(json.dumps(result.as_dict()))
        return
    console.print(
        f"{result.records:,} records → {result.customers:,} customers · "
        f"{result.key_edges:,} exact-key links · {result.probable_edges:,} probable links · "
        f"{result.merges:,} merges · {result.splits:,} splits · "
        f"{result.reviews_added:,} new reviews · {result.shared_identifiers:,} shared "
        f"identifiers · {result.seconds:.1f} s")
    if result.note:
        console.print(f"[yellow]{result.note}[/]")


@identity_app.command("reviews")
def identity_reviews(limit: Annotated[int, typer.Option(min=1, max=200)] = 20) -> None:
    """Pairs waiting for a person's decision (decide in the web UI or the API)."""
    from shopcrm.identity.queries import list_reviews

    context = _context()
    try:
        with context.sessions() as session:
            page = list_reviews(session, size=limit)
    finally:
        context.close()
    table = Table("id", "reason", "p", "left", "right")
    for item in page.items:
        table.add_row(str(item.id), item.reason,
                      f"{item.probability:.3f}" if item.probability is not None else "",
                      f"{item.left.source}:{item.left.external_id}",
                      f"{item.right.source}:{item.right.external_id}")
    console.print(table)
    console.print(f"{page.total:,} pending")
