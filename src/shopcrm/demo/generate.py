"""Entry point: simulate the demo shop and write every export file plus the ground truth.

The simulator produces one person at a time (with all their orders and events), but the
exports must be in date order like real ones, and Shopify order names (``#1001`` …) are
numbered by date.  So generation runs in two passes: people are simulated and their
orders and events dropped into weekly buckets (kept in memory, spilled to pickle files in
a temporary folder once too many are held); then the buckets are read back one week at a
time, sorted, and written.  Memory is bounded by the spill limit and by one week of data,
which keeps two million orders feasible.
"""

from __future__ import annotations

import gc
import pickle
import tempfile
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path

from shopcrm.demo.model import Channel, Event, Order, ShopSimulator
from shopcrm.demo.writers import (
    EventsWriter,
    GroundTruthWriter,
    JdWriter,
    PddWriter,
    ShopifyCustomersWriter,
    ShopifyOrdersWriter,
    TaobaoWriter,
    write_products,
)

Progress = Callable[[str, int, int], None]

_EPOCH = date(2000, 1, 3)  # a Monday: buckets are Monday-to-Sunday weeks
_SPILL_LIMIT = 750_000  # orders + events held in memory (~0.5 kB each) before spilling


@dataclass(frozen=True)
class DemoFile:
    """One generated export: the importer format that reads it, where it is, data rows."""

    format: str
    path: Path
    rows: int


@dataclass(frozen=True)
class DemoManifest:
    """What was generated, with ``files`` in the order they must be imported."""

    files: list[DemoFile]
    ground_truth: Path
    persons: int


def _week(moment: datetime) -> int:
    return (moment.date() - _EPOCH).days // 7


class _WeekSpool:
    """Orders and events grouped by week, spilled to disk when memory gets full."""

    def __init__(self, folder: Path, limit: int) -> None:
        self.folder = folder
        self.limit = limit
        self.held = 0
        self.memory: dict[int, list[Order | Event]] = {}
        self.spilled: set[int] = set()

    def add(self, week: int, item: Order | Event) -> None:
        """Keep ``item`` under ``week``."""
        self.memory.setdefault(week, []).append(item)
        self.held += 1
        if self.held >= self.limit:
            self._spill()

    def _spill(self) -> None:
        for week, items in self.memory.items():
            with (self.folder / f"{week}.pkl").open("ab") as f:
                pickle.dump(items, f, protocol=pickle.HIGHEST_PROTOCOL)
            self.spilled.add(week)
        self.memory = {}
        self.held = 0

    def weeks(self) -> list[int]:
        """Every week that holds something, oldest first."""
        return sorted(self.spilled | set(self.memory))

    def take(self, week: int) -> list[Order | Event]:
        """Everything of ``week`` (from memory and disk), removed from the spool."""
        items = self.memory.pop(week, [])
        if week in self.spilled:
            path = self.folder / f"{week}.pkl"
            with path.open("rb") as f:
                while True:
                    try:
                        items.extend(pickle.load(f))
                    except EOFError:
                        break
            path.unlink()
        return items


def generate_demo_shop(
    out_dir: Path,
    *,
    customers: int = 20_000,
    seed: int = 42,
    today: date = date(2026, 11, 20),
    progress: Callable[[str, int, int], None] | None = None,
) -> DemoManifest:
    """Write a realistic synthetic shop's exports into ``out_dir``; same seed, same bytes.

    ``today`` is the end of the history (nothing happens on or after it); ``progress`` is
    called as ``progress(step, done, total)`` with step ``"persons"`` while people are
    simulated and ``"writing"`` while the weekly buckets are written out.
    """
    # The run allocates millions of small acyclic objects; the cyclic garbage collector
    # would rescan them over and over (a quarter of the run time) without freeing anything.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _generate(out_dir, customers=customers, seed=seed, today=today,
                         report=progress or (lambda step, done, total: None))
    finally:
        if collecting:
            gc.enable()


def _generate(
    out_dir: Path, *, customers: int, seed: int, today: date, report: Progress
) -> DemoManifest:
    out_dir.mkdir(parents=True, exist_ok=True)
    sim = ShopSimulator(customers=customers, seed=seed, today=today)
    catalog = sim.catalog.by_sku
    paths = {
        "products": out_dir / "products.csv",
        "shopify-customers": out_dir / "shopify_customers.csv",
        "taobao-orders": out_dir / "taobao_orders.csv",
        "taobao-items": out_dir / "taobao_items.csv",
        "jd-orders": out_dir / "jd_orders.csv",
        "pdd-orders": out_dir / "pdd_orders.xlsx",
        "shopify-orders": out_dir / "shopify_orders.csv",
        "events": out_dir / "events.jsonl",
    }
    rows: dict[str, int] = {"products": write_products(paths["products"], sim.catalog.products)}
    truth_path = out_dir / "ground_truth.csv"

    with ExitStack() as stack:
        spool_dir = Path(stack.enter_context(
            tempfile.TemporaryDirectory(dir=out_dir, prefix=".demo-spool-")
        ))
        spool = _WeekSpool(spool_dir, _SPILL_LIMIT)
        truth = GroundTruthWriter(truth_path)
        stack.callback(truth.close)

        customers_out = ShopifyCustomersWriter(paths["shopify-customers"], seed=seed)
        with ExitStack() as first_pass:
            first_pass.callback(customers_out.close)
            step = max(1, customers // 100)
            for done, history in enumerate(sim.histories(), start=1):
                person = history.person
                truth.person(person)
                if person.shopify_id:
                    own = [o for o in history.orders if o.channel is Channel.SHOPIFY]
                    spent = sum((o.paid_amount - o.refund_amount for o in own), Decimal("0.00"))
                    customers_out.write(person, spent, len(own))
                for order in history.orders:
                    spool.add(_week(order.created_at), order)
                for event in history.events:
                    spool.add(_week(event.occurred_at), event)
                if done % step == 0 or done == customers:
                    report("persons", done, customers)
        rows["shopify-customers"] = customers_out.rows

        taobao = TaobaoWriter(paths["taobao-orders"], paths["taobao-items"], seed=seed,
                              catalog=catalog, shop_id=sim.taobao_shop_id)
        stack.callback(taobao.close)
        jd = JdWriter(paths["jd-orders"], seed=seed, catalog=catalog)
        stack.callback(jd.close)
        pdd = PddWriter(paths["pdd-orders"], catalog=catalog,
                        stamp=datetime.combine(today, time()))
        shopify = ShopifyOrdersWriter(paths["shopify-orders"], catalog=catalog)
        stack.callback(shopify.close)
        events = EventsWriter(paths["events"])
        stack.callback(events.close)

        weeks = spool.weeks()
        next_name = 1001
        for i, week in enumerate(weeks, start=1):
            items = spool.take(week)
            orders = sorted(
                (x for x in items if isinstance(x, Order)), key=lambda o: (o.created_at, o.seq)
            )
            names: dict[int, str] = {}
            for order in orders:
                if order.channel is Channel.TAOBAO:
                    taobao.write(order)
                elif order.channel is Channel.JD:
                    jd.write(order)
                elif order.channel is Channel.PDD:
                    pdd.write(order)
                else:
                    order.order_no = f"#{next_name}"
                    next_name += 1
                    names[order.seq] = order.order_no
                    shopify.write(order)
                truth.order(order)
            week_events = sorted(
                (x for x in items if isinstance(x, Event)),
                key=lambda e: (e.occurred_at, e.event_id),
            )
            for event in week_events:
                order_id = names.get(event.order_seq) if event.order_seq is not None else None
                events.write(event, order_id)
            report("writing", i, len(weeks))
        pdd.close()
        rows.update({
            "taobao-orders": taobao.orders.rows,
            "taobao-items": taobao.items.rows,
            "jd-orders": jd.rows,
            "pdd-orders": pdd.rows,
            "shopify-orders": shopify.rows,
            "events": events.rows,
        })

    files = [DemoFile(fmt, path, rows[fmt]) for fmt, path in paths.items()]
    return DemoManifest(files=files, ground_truth=truth_path, persons=customers)
