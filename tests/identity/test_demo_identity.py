"""Identity resolution on the demo shop, through the real importers: unified IDs
against the generator's ground truth, incremental imports equal to a full run, and
facts following the surviving customer."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select

from shopcrm.context import AppContext, build_context
from shopcrm.demo import generate_demo_shop
from shopcrm.demo.truth import score_demo_resolution
from shopcrm.identity.models import IdentityMerge
from shopcrm.identity.resolve import resolve_full
from shopcrm.ingest.service import import_file
from shopcrm.settings import Settings
from shopcrm.store.models import SourceIdentity


@pytest.fixture(scope="module")
def demo_context(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppContext]:
    home = tmp_path_factory.mktemp("identity-demo")
    context = build_context(Settings(home=home))
    manifest = generate_demo_shop(home / "demo", customers=1500, seed=11)
    for demo_file in manifest.files:
        report = import_file(context, demo_file.format, demo_file.path)
        assert report.ok and report.rejected == 0, report.message
        assert report.message is None, report.message
    context.ground_truth = manifest.ground_truth  # type: ignore[attr-defined]
    yield context
    context.close()


def _assignment(context: AppContext) -> dict[int, int | None]:
    with context.sessions() as session:
        return dict(session.execute(select(SourceIdentity.id, SourceIdentity.customer_id)).all())


@pytest.mark.slow
def test_unified_ids_match_the_ground_truth(demo_context: AppContext) -> None:
    scores = score_demo_resolution(demo_context, demo_context.ground_truth)  # type: ignore[attr-defined]
    print(f"demo: precision {scores.precision:.4f} recall {scores.recall:.4f} "
          f"over {scores.records} records, {scores.true_pairs} true pairs")
    assert scores.precision >= 0.99
    assert scores.recall >= 0.97


@pytest.mark.slow
def test_imports_resolved_incrementally_equal_a_full_run(demo_context: AppContext) -> None:
    before = _assignment(demo_context)
    with demo_context.sessions() as session:
        events = session.scalars(select(IdentityMerge.id)).all()
    with demo_context.sessions.begin() as session:
        result = resolve_full(session, now=demo_context.clock.now())
    assert (result.merges, result.splits) == (0, 0)
    assert _assignment(demo_context) == before
    with demo_context.sessions() as session:
        assert session.scalars(select(IdentityMerge.id)).all() == events


@pytest.mark.slow
def test_orders_follow_the_surviving_customer(demo_context: AppContext) -> None:
    assignment = _assignment(demo_context)
    moved = {i: c for i, c in assignment.items() if c != i}
    assert moved, "the demo shop has people on several channels"
    orders = demo_context.warehouse.table("orders")
    rows = demo_context.warehouse.execute(
        orders.filter(orders.identity_id.isin(list(moved)))
        .select("identity_id", "customer_id")).to_pylist()
    assert rows
    assert all(row["customer_id"] == moved[row["identity_id"]] for row in rows)
