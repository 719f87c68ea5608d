"""Formatting rules of the export writers, one quirk at a time."""

from __future__ import annotations

import csv
import json
import random
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from shopcrm.demo.geo import REGIONS, Address, make_home
from shopcrm.demo.model import Channel, Order, ShopSimulator
from shopcrm.demo.writers import (
    EventsWriter,
    TaobaoWriter,
    _json,
    jd_address,
    spec_text,
    taobao_address,
)

TODAY = date(2026, 11, 20)


@pytest.fixture(scope="module")
def sim_orders() -> tuple[ShopSimulator, list[Order]]:
    """A tiny shop's simulator and its orders."""
    sim = ShopSimulator(customers=80, seed=2, today=TODAY)
    return sim, [o for h in sim.histories() for o in h.orders]


def _region(city: str) -> Address:
    region = next(r for r in REGIONS if r.city == city)
    return Address(region, "文三路", "188号", "阳光花园3栋2单元501室", region.postcode)


def test_taobao_address_spaces_and_postcode() -> None:
    assert taobao_address(_region("杭州市"), "310012") == (
        "浙江省 杭州市 西湖区 文三路 188号阳光花园3栋2单元501室(310012)"
    )
    beijing = taobao_address(_region("北京市"), "100020")
    assert beijing.startswith("北京 北京市 ")
    assert beijing.endswith("(100020)")


def test_jd_address_runs_together() -> None:
    nanjing = jd_address(_region("南京市"))
    assert nanjing.startswith("江苏南京市")
    assert " " not in nanjing
    assert jd_address(_region("上海市")).startswith("上海")
    assert not jd_address(_region("上海市")).startswith("上海上海市")


def test_home_spellings_share_the_street() -> None:
    home = make_home(random.Random(1))
    forms = [home.address(i) for i in range(len(home.forms))]
    assert len({a.detail for a in forms}) == len(forms)
    assert len({(a.road, a.number, a.region) for a in forms}) == 1


def test_spec_text(sim_orders: tuple[ShopSimulator, list[Order]]) -> None:
    sim, orders = sim_orders
    line = next(line for o in orders for line in o.lines
                if len(sim.catalog.by_sku[line.sku].variants) == 2)
    product = sim.catalog.by_sku[line.sku]
    named = spec_text(product, line.variant, named=True)
    assert named.count("：") == 2 and ";" in named
    assert spec_text(product, line.variant, named=False) == ",".join(line.variant)


@pytest.mark.parametrize("text", ["plain", "中文 VERO MODA", 'say "hi"', "a\\b", "line\nbreak"])
def test_json_strings_round_trip(text: str) -> None:
    assert json.loads(_json(text)) == text


def test_taobao_quotes_awkward_buyer_messages(
    tmp_path: Path, sim_orders: tuple[ShopSimulator, list[Order]]
) -> None:
    sim, orders = sim_orders
    order = next(o for o in orders if o.channel is Channel.TAOBAO)
    message = '快点发货,急用\n要"大号"的😊'
    writer = TaobaoWriter(tmp_path / "o.csv", tmp_path / "i.csv", seed=1,
                          catalog=sim.catalog.by_sku, shop_id="1")
    writer.write(replace(order, buyer_message=message))
    writer.close()
    with (tmp_path / "o.csv").open(encoding="gb18030", newline="") as f:
        rows = list(csv.reader(f))
    assert len(rows) == 2
    assert rows[1][11] == message
    assert rows[1][0] == f'="{order.order_no}"'
    with (tmp_path / "i.csv").open(encoding="gbk", newline="") as f:
        items = list(csv.reader(f))
    assert len(items) == 1 + len(order.lines)
    assert {r[0] for r in items[1:]} == {f'="{order.order_no}"'}


def test_events_writer_leaves_out_absent_keys(tmp_path: Path) -> None:
    event = next(e for h in ShopSimulator(customers=30, seed=4, today=TODAY).histories()
                 for e in h.events if e.event_type == "view")
    writer = EventsWriter(tmp_path / "e.jsonl")
    writer.write(event, None)
    writer.write(replace(event, event_type="purchase"), "#1001")
    writer.close()
    first, second = (json.loads(x) for x in (tmp_path / "e.jsonl").read_text().splitlines())
    assert "query" not in first and "order_id" not in first
    assert second["order_id"] == "#1001"
    assert first["occurred_at"].endswith("+08:00")
