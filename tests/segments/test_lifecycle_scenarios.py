"""Time travel: import orders, move a fake clock, compute, assert stages and transitions.

Runs the real path end to end — the generic importer writes facts, ``compute_features``
reads them through the warehouse at the fake clock's time, writes a snapshot and records
the stage changes in the operational store (SQLite and PostgreSQL).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.compute as pc

from shopcrm.clock import FakeClock
from shopcrm.context import AppContext
from shopcrm.ingest.service import import_file
from shopcrm.segments.service import (
    compute_features,
    customer_transitions,
    feature_store,
    transitions_after,
)
from shopcrm.segments.snapshots import diff_runs

MAPPING = """kind = "orders"
source = "miniapp"
[columns]
order_id = "order"
buyer_id = "member"
created_at = "created"
paid_amount = "paid"
status = "status"
[status]
"done" = "completed"
"unpaid" = "pending"
"""


def _import(context: AppContext, folder: Path, name: str, rows: list[str]) -> None:
    mapping = folder / "mapping.toml"
    mapping.write_text(MAPPING, encoding="utf-8")
    data = folder / f"{name}.csv"
    data.write_text("order,member,created,paid,status\n" + "\n".join(rows) + "\n",
                    encoding="utf-8")
    report = import_file(context, "generic", data, mapping=mapping)
    assert report.rejected == 0, report.sample_rejects


def _stages(context: AppContext) -> dict[str, str]:
    """Stage by member number (the customer ID is the identity's, so map it back)."""
    run = feature_store(context).latest()
    assert run is not None
    data = feature_store(context).read(run, ["customer_id", "stage"])
    return dict(zip((str(c) for c in data["customer_id"].to_pylist()),
                    data["stage"].to_pylist(), strict=True))


def _ids(context: AppContext) -> dict[str, int]:
    from sqlalchemy import select

    from shopcrm.store.models import SourceIdentity

    with context.sessions() as session:
        rows = session.execute(select(SourceIdentity.external_id, SourceIdentity.customer_id))
        return {external: int(cid) for external, cid in rows}


def test_customers_move_through_the_lifecycle(context: AppContext, clock: FakeClock,
                                              tmp_path: Path) -> None:
    clock.set(datetime(2026, 1, 10, 2, 0, tzinfo=UTC))
    _import(context, tmp_path, "first", [
        "A1,alice,2026-01-05 10:00:00,100.00,done",
        "B1,bob,2025-12-01 10:00:00,50.00,done",
        # ordered "in the future" of the first compute: invisible until the clock passes it
        "C1,carol,2026-02-01 10:00:00,80.00,done",
    ])
    ids = _ids(context)
    alice, bob, carol = ids["alice"], ids["bob"], ids["carol"]

    first = compute_features(context)
    assert first.transitions == 0  # the first run is the baseline
    stages = _stages(context)
    assert stages[str(alice)] == "new" and stages[str(bob)] == "active"
    assert str(carol) not in stages

    clock.advance(timedelta(days=60))  # 2026-03-11
    second = compute_features(context)
    stages = _stages(context)
    assert stages[str(alice)] == "active"  # first purchase 65 days ago
    assert stages[str(bob)] == "sleeping"  # last purchase 100 days ago
    assert stages[str(carol)] == "active"  # 38 days ago; new to the table
    with context.sessions() as session:
        moves = {(t.customer_id, t.from_stage, t.to_stage) for t in transitions_after(
            session, after_id=0)}
    assert moves == {(alice, "new", "active"), (bob, "active", "sleeping"),
                     (carol, None, "active")}
    assert second.transitions == 3

    clock.advance(timedelta(days=120))  # 2026-07-09: bob 220 days, alice 185 days
    compute_features(context)
    stages = _stages(context)
    assert (stages[str(alice)], stages[str(bob)]) == ("pre_churn", "pre_churn")

    clock.advance(timedelta(days=200))  # 2027-01-25
    _import(context, tmp_path, "comeback", ["B2,bob,2027-01-20 10:00:00,70.00,done"])
    compute_features(context)
    stages = _stages(context)
    assert stages[str(bob)] == "active" and stages[str(alice)] == "churned"
    with context.sessions() as session:
        journey = [(t.from_stage, t.to_stage) for t in customer_transitions(
            session, customer_id=bob)]
        assert journey == [("active", "sleeping"), ("sleeping", "pre_churn"),
                           ("pre_churn", "active")]
        # polling from a cursor sees only what came after it
        seen = transitions_after(session, after_id=0)
        assert [t.id for t in transitions_after(session, after_id=seen[2].id)] == [
            t.id for t in seen[3:]]

    runs = feature_store(context).runs()
    assert len(runs) == 4
    assert [r.as_of for r in runs] == sorted(r.as_of for r in runs)


def test_diff_between_runs(context: AppContext, clock: FakeClock, tmp_path: Path) -> None:
    clock.set(datetime(2026, 1, 10, 2, 0, tzinfo=UTC))
    _import(context, tmp_path, "orders", ["A1,alice,2026-01-05 10:00:00,100.00,done",
                                          "B1,bob,2026-01-06 10:00:00,20.00,done",
                                          "D1,dave,2026-02-20 10:00:00,20.00,done"])
    ids = _ids(context)
    compute_features(context)
    clock.advance(timedelta(days=45))
    compute_features(context)
    store = feature_store(context)
    before, after = store.runs()
    changed = context.warehouse.execute(diff_runs(store.table(before), store.table(after)))
    rows = {r["customer_id"]: r for r in changed.to_pylist()}
    assert rows[ids["dave"]]["change"] == "entered"
    assert rows[ids["alice"]]["stage_before"] == "new"
    assert rows[ids["alice"]]["stage_after"] == "active"
    assert rows[ids["alice"]]["change"] == "changed"
    # a run compared with itself has no differences
    same = context.warehouse.execute(diff_runs(store.table(after), store.table(after)))
    assert same.num_rows == 0
    assert pc.sum(store.read(after, ["frequency"])["frequency"]).as_py() == 3
