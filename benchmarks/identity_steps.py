"""Identity-resolution benchmark steps, each run in its own process (``run_step``).

``generate`` writes a synthetic shop's source records straight into the operational
store (as imports leave them: identities, their customers, their identifier keys) with
the noise real exports carry — masked phones, ``王女士`` names, parcel lockers shared by
hundreds, family phones, addresses typed differently — and the truth per record.
``full`` resolves everything; ``incremental`` adds records to a resolved graph and
resolves only them; ``baseline`` groups records by exact phone in raw DuckDB.
"""

from __future__ import annotations

import json
import random
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import func, select

from shopcrm.context import AppContext, build_context
from shopcrm.identity.cache import cache_for
from shopcrm.identity.quality import pairwise_scores
from shopcrm.identity.resolve import resolve_full, resolve_incremental
from shopcrm.settings import Settings
from shopcrm.store.bulk import bulk_insert
from shopcrm.store.models import SourceIdentity


def _words(text: str) -> list[str]:
    return text.split()


SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史黎贺顾毛郝龚邵万钱覃武戴孔汤庞樊兰殷施陶洪翟安颜倪严牛温芦季俞章鲁葛伍申尤毕聂柴焦向柳邢岳齐梅莫庄辛管祝左涂谷时舒耿牟卜路詹关苗凌费纪靳盛童欧甄项曲成游阳裴席卫查屈鲍位覃霍翁隋植甘景薄单包司柏宁柯阮桂闵解强丛华车冉房边辜吉饶刁瞿戚丘古米池滕晋苑邬臧畅宫来嵺苟全褚廉简娄盖符奚木穆党燕郎邸冀谈姬屠连郜晏栾郁商蒙计喻揭窦迟宇敖糜鄢冷卓花仇艾蓝都巩稽井练仲乐虞卞封竺冼原官衣楚佟栗匡宗应台巫鞠僧桑荆谌银扬明沙薄伏岑习胥保和蔺"  # noqa: E501
GIVEN = _words("伟 芳 娜 秀英 敏 静 丽 强 磊 军 洋 勇 艳 杰 娟 涛 明 超 秀兰 霞 平 刚 桂英 欢 婷 "
         "玉兰 浩 宇 欣怡 梓涵 子轩 一诺 雨泽 思远 晓东 海燕 春梅 建华 志强 文博 晨 琳 "
         "佳 颖 鑫 斌 鹏 辉 慧 雪 燕 红 丹 萍 健 波 宁 凯 飞 俊 帅 瑶 蕾 倩")
CITIES = [("上海市", d) for d in ("浦东新区", "徐汇区", "静安区", "闵行区")] + [
    ("北京市", d) for d in ("朝阳区", "海淀区", "东城区")] + [
    ("杭州市", d) for d in ("西湖区", "余杭区", "滨江区")] + [
    ("广州市", d) for d in ("天河区", "海珠区")] + [
    ("深圳市", d) for d in ("南山区", "福田区")] + [
    ("成都市", d) for d in ("武侯区", "锦江区")] + [("武汉市", "洪山区"), ("南京市", "鼓楼区")]
ROADS = _words("人民路 解放路 中山路 建设路 和平路 新华路 文化路 胜利路 青年路 学府路 滨江路 "
         "世纪大道 迎宾大道 长江路 黄河路 朝阳路 花园路 幸福路")
ESTATES = _words("阳光花园 锦绣家园 绿城小区 万科城 保利华庭 龙湖苑 碧桂园 金地新城 翠苑 名仕城")
SOURCES = ("taobao", "jd", "pdd", "shopify", "own")
MOBILE_PREFIXES = ("130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151",
                   "152", "153", "155", "156", "157", "158", "159", "180", "181", "182", "183",
                   "185", "186", "187", "188", "189")
IDENTITY_COLUMNS = ("id", "source", "external_id", "kind", "customer_id", "name", "phone",
                    "phone_masked", "email", "province", "city", "district", "address_detail",
                    "first_seen_at", "last_seen_at", "updated_at")


def _mask(phone: str) -> str:
    return phone[3:6] + "****" + phone[-4:]


class Shop:
    """A deterministic stream of synthetic people and their records."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.person = 0
        self.lockers = {c: f"+86175{self.rng.randrange(10**8):08d}" for c in CITIES}
        self.used: set[str] = set()

    def _phone(self) -> str:
        while True:
            phone = f"+86{self.rng.choice(MOBILE_PREFIXES)}{self.rng.randrange(10**8):08d}"
            if phone not in self.used:
                self.used.add(phone)
                return phone

    def people(self, records: int) -> list[dict[str, Any]]:
        rng = self.rng
        rows: list[dict[str, Any]] = []
        family_phone: str | None = None
        while len(rows) < records:
            self.person += 1
            pid = f"P{self.person}"
            surname = rng.choice(SURNAMES)
            name = surname + rng.choice(GIVEN)
            phone = self._phone()
            if family_phone and rng.random() < 0.35:
                phone = family_phone  # a family sharing the head's phone
            family_phone = phone if rng.random() < 0.01 else None
            city, district = rng.choice(CITIES)
            road, number = rng.choice(ROADS), rng.randrange(1, 999)
            home = (f"{road}{number}号{rng.choice(ESTATES)}{rng.randrange(1, 40)}栋"
                    f"{rng.randrange(1, 6)}单元{rng.randrange(1, 33)}0{rng.randrange(1, 7)}室")
            email = f"u{self.person}_{rng.randrange(10**6)}@qq.com"
            count = rng.choices((1, 2, 3, 4), (0.35, 0.35, 0.2, 0.1))[0]
            for source in rng.sample(SOURCES, count):
                r_name, r_phone, masked, address = name, phone, None, home
                if rng.random() < 0.03:
                    r_name = surname + rng.choice(("女士", "先生"))
                if rng.random() < 0.01:
                    r_phone, address = self.lockers[(city, district)], f"{road}{number}号快递柜"
                elif source in ("taobao", "pdd") and rng.random() < (
                        0.25 if source == "taobao" else 0.6):
                    r_phone, masked = None, _mask(phone)
                if source == "taobao" and rng.random() < 0.5:
                    address = address.replace("号", "号 ", 1)
                rows.append({
                    "person": pid, "source": source,
                    "external_id": (f"email:{email}" if source == "shopify" else
                                    email if source == "own" else
                                    f"rcv:{self.person}-{len(rows)}" if source == "pdd" else
                                    f"{source}_{self.person}_{rng.randrange(10**6)}"),
                    "kind": {"shopify": "customer", "pdd": "receiver"}.get(source, "buyer"),
                    "name": None if source == "own" else r_name,
                    "phone": r_phone, "phone_masked": masked,
                    "email": email if source in ("shopify", "own") else None,
                    "province": city if city in ("上海市", "北京市") else "某省",
                    "city": city, "district": district,
                    "address_detail": None if source == "own" else address,
                })
        return rows[:records]


def _write(context: AppContext, rows: list[dict[str, Any]], first_id: int) -> list[int]:
    now = datetime(2026, 11, 1, tzinfo=UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    ids = list(range(first_id, first_id + len(rows)))
    with context.sessions.begin() as session:
        connection = session.connection()
        bulk_insert(connection, "customers",
                    ("id", "status", "name", "phone", "email", "city", "created_at",
                     "updated_at"),
                    ((i, "active", r["name"], r["phone"], r["email"], r["city"], now, now)
                     for i, r in zip(ids, rows, strict=True)))
        bulk_insert(connection, "source_identities", IDENTITY_COLUMNS, (
            (i, r["source"], r["external_id"], r["kind"], i, r["name"], r["phone"],
             r["phone_masked"], r["email"], r["province"], r["city"], r["district"],
             r["address_detail"], now, now, now) for i, r in zip(ids, rows, strict=True)))
        keys = [(i, "phone", r["phone"], r["name"], now, now)
                for i, r in zip(ids, rows, strict=True) if r["phone"]]
        keys += [(i, "email", r["email"], r["name"], now, now)
                 for i, r in zip(ids, rows, strict=True) if r["email"]]
        bulk_insert(connection, "identity_keys",
                    ("identity_id", "kind", "value", "name_seen", "first_seen_at",
                     "last_seen_at"), keys)
    return ids


def _truth_path(home: Path) -> Path:
    return home / "truth.parquet"


def _save_truth(home: Path, ids: list[int], rows: list[dict[str, Any]]) -> None:
    table = pa.table({"identity_id": pa.array(ids, pa.int64()),
                      "person": pa.array([r["person"] for r in rows], pa.string())})
    path = _truth_path(home)
    if path.exists():
        table = pa.concat_tables([pq.read_table(path), table])
    pq.write_table(table, path)


def _context(home: Path, url: str) -> AppContext:
    return build_context(Settings(home=home, database_url=url or None))


def generate(home: Path, records: int, url: str) -> dict[str, Any]:
    context = _context(home, url)
    shop = Shop(seed=7)
    rows = shop.people(records)
    ids = _write(context, rows, 1)
    _save_truth(home, ids, rows)
    (home / "shop_state.json").write_text(json.dumps({"person": shop.person}))
    context.close()
    return {"records": len(rows)}


def full(home: Path, url: str) -> dict[str, Any]:
    context = _context(home, url)
    started = time.perf_counter()
    with context.sessions.begin() as session:
        result = resolve_full(session, now=context.clock.now(), retrain=True,
                              cache=cache_for(home))
    seconds = time.perf_counter() - started
    scores = _scores(context, home)
    context.close()
    return {"work_seconds": seconds, **result.as_dict(), **scores}


def incremental(home: Path, records: int, url: str) -> dict[str, Any]:
    """Add records — a third new people, the rest new records of known people — and
    resolve only them."""
    context = _context(home, url)
    state = json.loads((home / "shop_state.json").read_text())
    with context.sessions() as session:
        top = int(session.scalar(select(func.max(SourceIdentity.id))) or 0)
    shop = Shop(seed=99)
    fresh = shop.people(records // 3)
    for row in fresh:
        row["person"] = f"N{top}-{row['person']}"
        row["external_id"] = f"n{top}-{row['external_id']}"
    known = Shop(seed=7).people(records - len(fresh))
    for index, row in enumerate(known):
        row["external_id"] = f"again{top}_{index}_{row['external_id']}"
    rows = fresh + known
    ids = _write(context, rows, top + 1)
    _save_truth(home, ids, rows)
    del state
    started = time.perf_counter()
    with context.sessions.begin() as session:
        result = resolve_incremental(session, ids, now=context.clock.now(),
                                     cache=cache_for(home))
    seconds = time.perf_counter() - started
    scores = _scores(context, home)
    context.close()
    return {"work_seconds": seconds, **result.as_dict(), **scores}


def search(home: Path, url: str) -> dict[str, Any]:
    """Customer search on the resolved shop: p50 / p95 of 40 look-ups each by phone,
    e-mail, name prefix and buyer ID, through the same query the list page uses."""
    import statistics

    from shopcrm.customers.queries import list_customers
    from shopcrm.ingest.normalize import normalize_phone

    context = _context(home, url)
    with context.sessions() as session:
        rows = session.execute(select(SourceIdentity.external_id, SourceIdentity.name,
                                      SourceIdentity.phone, SourceIdentity.email)
                               .where(SourceIdentity.phone.is_not(None))
                               .order_by(SourceIdentity.id).limit(4000)).all()
    rng = random.Random(3)
    sample = rng.sample(rows, 40)
    timings: dict[str, list[float]] = {}
    for kind, pick in (("phone", lambda r: r[2]), ("email", lambda r: r[3]),
                       ("name", lambda r: r[1]), ("buyer_id", lambda r: r[0])):
        for row in sample:
            query = pick(row)
            if not query or (kind == "phone" and normalize_phone(query).kind != "e164"):
                continue
            started = time.perf_counter()
            with context.sessions() as session:
                found = list_customers(session, context.warehouse, q=query, size=20)
            timings.setdefault(kind, []).append(time.perf_counter() - started)
            assert found.total >= 1, (kind, query)
    context.close()
    return {kind: {"p50_ms": round(statistics.median(t) * 1000, 1),
                   "p95_ms": round(sorted(t)[int(len(t) * 0.95) - 1] * 1000, 1)}
            for kind, t in timings.items()}


def baseline(home: Path) -> dict[str, Any]:
    """Raw DuckDB: records grouped by exact phone — the cheapest possible dedup."""
    truth = pq.read_table(_truth_path(home))
    store = home / "shopcrm.sqlite"
    import sqlite3

    connection = sqlite3.connect(store)
    rows = connection.execute("SELECT id, phone FROM source_identities").fetchall()
    connection.close()
    table = pa.table({"id": pa.array([r[0] for r in rows], pa.int64()),
                      "phone": pa.array([r[1] for r in rows], pa.string())})
    started = time.perf_counter()
    con = duckdb.connect()
    con.register("records", table)
    grouped = con.sql("SELECT id, CASE WHEN phone IS NULL THEN id "
                      "ELSE min(id) OVER (PARTITION BY phone) END AS c "
                      "FROM records").to_arrow_table()
    seconds = time.perf_counter() - started
    predicted = dict(zip(grouped.column("id").to_pylist(), grouped.column("c").to_pylist(),
                         strict=True))
    truth_map = dict(zip(truth.column("identity_id").to_pylist(),
                         truth.column("person").to_pylist(), strict=True))
    scores = pairwise_scores(predicted, truth_map)
    return {"work_seconds": seconds, "precision": round(scores.precision, 4),
            "recall": round(scores.recall, 4)}


def _scores(context: AppContext, home: Path) -> dict[str, Any]:
    truth = pq.read_table(_truth_path(home))
    with context.sessions() as session:
        predicted = dict(session.execute(
            select(SourceIdentity.id, SourceIdentity.customer_id)).all())
    scores = pairwise_scores(predicted, dict(zip(truth.column("identity_id").to_pylist(),
                                                 truth.column("person").to_pylist(),
                                                 strict=True)))
    return {"precision": round(scores.precision, 4), "recall": round(scores.recall, 4),
            "f1": round(scores.f1, 4)}


def main(argv: list[str]) -> dict[str, Any]:
    step, home = argv[0], Path(argv[1])
    url = argv[3] if len(argv) > 3 else ""
    if step == "generate":
        return generate(home, int(argv[2]), url)
    if step == "full":
        return full(home, argv[2] if len(argv) > 2 else "")
    if step == "incremental":
        return incremental(home, int(argv[2]), url)
    if step == "baseline":
        return baseline(home)
    if step == "search":
        return search(home, argv[2] if len(argv) > 2 else "")
    raise SystemExit(f"unknown step {step}")


if __name__ == "__main__":
    print(json.dumps(main(__import__("sys").argv[1:]), default=str))
