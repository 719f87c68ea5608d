"""The Parquet cache of comparable records: what it keeps, when it is not trusted, and
that incremental runs reading it still give exactly the full run's answer."""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session
from test_resolution import add

from shopcrm.clock import FakeClock
from shopcrm.context import AppContext
from shopcrm.identity.cache import ComparableCache, cache_for, fingerprint
from shopcrm.identity.models import IdentityLink
from shopcrm.identity.resolve import resolve_full, resolve_incremental
from shopcrm.store.models import SourceIdentity

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = ["伟", "芳", "娜", "秀英", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰"]
PLACES = [("上海市", "浦东新区"), ("上海市", "徐汇区"), ("北京市", "朝阳区"), ("杭州市", "西湖区")]
ROADS = ["人民路", "解放路", "中山路", "建设路", "和平路"]


def _table(ids: list[int], names: list[str]) -> pa.Table:
    return pa.table({"unique_id": pa.array(ids, pa.int64()), "name": pa.array(names)})


def test_cache_round_trip_and_fingerprint(tmp_path: Path) -> None:
    cache = ComparableCache(tmp_path / "identity")
    assert cache.load("x") is None
    cache.save(_table([1, 2, 3], ["a", "b", "c"]), expected="x", watermark=None)
    loaded = cache.load("x")
    assert loaded is not None and loaded.watermark is None
    assert loaded.table.column("unique_id").to_pylist() == [1, 2, 3]
    assert cache.load("y") is None  # another definition of the form: not trusted


def test_forget_removes_the_rows(tmp_path: Path) -> None:
    cache = ComparableCache(tmp_path)
    cache.save(_table([1, 2, 3], ["a", "b", "c"]), expected="x", watermark=None)
    cache.forget([2, 9])
    loaded = cache.load("x")
    assert loaded is not None
    assert loaded.table.column("name").to_pylist() == ["a", "c"]


def test_an_unreadable_file_is_ignored(tmp_path: Path) -> None:
    cache = ComparableCache(tmp_path)
    cache.path.write_bytes(b"not parquet")
    assert cache.load("x") is None


def test_fingerprint_follows_the_policy() -> None:
    assert fingerprint(max_identities=12) == fingerprint(max_identities=12)
    assert fingerprint(max_identities=12) != fingerprint(max_identities=20)


class People:
    """Deterministic people with records on a few sources: masked phones, titles
    instead of names, addresses typed differently, typos in names."""

    def __init__(self, seed: int, tag: str = "") -> None:
        self.rng = random.Random(seed)
        self.count = 0
        self.tag = tag

    def records(self, people: int) -> list[dict[str, str | None]]:
        rng, rows = self.rng, []
        for _ in range(people):
            self.count += 1
            surname = rng.choice(SURNAMES)
            name = surname + rng.choice(GIVEN)
            phone = f"+86138{rng.randrange(10**8):08d}"
            city, district = rng.choice(PLACES)
            home = f"{rng.choice(ROADS)}{rng.randrange(1, 300)}号{rng.randrange(1, 30)}栋"
            for source in rng.sample(["taobao", "jd", "pdd"], rng.choice([1, 2, 2, 3])):
                row: dict[str, str | None] = {
                    "source": source, "name": name, "phone": phone, "phone_masked": None,
                    "city": city, "district": district, "address_detail": home,
                    "external_id": f"{self.tag}{source}-{self.count}-{len(rows)}-"
                                   f"{rng.randrange(10**6)}"}
                if source == "pdd" or (source == "taobao" and rng.random() < 0.3):
                    row["phone"], row["phone_masked"] = None, f"{phone[3:6]}****{phone[-4:]}"
                if rng.random() < 0.1:
                    row["name"] = surname + "女士"
                if source == "taobao" and rng.random() < 0.5:
                    row["address_detail"] = home.replace("号", "号 ")
                elif rng.random() < 0.25:  # typed differently: unit added, or 栋 as 幢
                    row["address_detail"] = rng.choice([home + "2单元", home.replace("栋", "幢")])
                if rng.random() < 0.05:  # a typo in the given name
                    row["name"] = name[:-1] + rng.choice(GIVEN)[-1]
                rows.append(row)
        return rows


def add_records(session: Session, context: AppContext, rows: list[dict[str, str | None]]
             ) -> list[int]:
    ids = []
    for row in rows:
        identity = add(session, context, source=str(row["source"]),
                       external_id=str(row["external_id"]), name=row["name"],
                       phone=row["phone"], city=str(row["city"]),
                       kind="receiver" if row["source"] == "pdd" else "buyer")
        session.execute(update(SourceIdentity).where(SourceIdentity.id == identity).values(
            phone_masked=row["phone_masked"], district=row["district"],
            address_detail=row["address_detail"]))
        ids.append(identity)
    return ids


def _assignment(context: AppContext) -> dict[int, int | None]:
    with context.sessions() as session:
        return dict(session.execute(select(SourceIdentity.id, SourceIdentity.customer_id))
                    .all())


def _probable(context: AppContext) -> set[tuple[int, int]]:
    with context.sessions() as session:
        return {(a, b) for a, b in session.execute(
            select(IdentityLink.identity_a, IdentityLink.identity_b)
            .where(IdentityLink.kind == "probable"))}


@pytest.mark.slow
def test_incremental_runs_from_the_cache_equal_a_full_run(context: AppContext,
                                                          clock: FakeClock) -> None:
    cache = cache_for(context.settings.home)
    people = People(5)
    with context.sessions.begin() as session:
        first = add_records(session, context, people.records(70))
        full = resolve_full(session, now=context.clock.now(), cache=cache)
    assert full.model_id is not None and full.probable_edges > 0, "the model must be trained"
    written = cache.load(fingerprint(max_identities=12))
    assert written is not None and written.table.num_rows == len(first)

    clock.advance(timedelta(hours=1))
    with context.sessions.begin() as session:
        # A phone some old records carry becomes a parcel locker's: shared by 14.
        locker = session.scalar(select(SourceIdentity.phone).where(
            SourceIdentity.id.in_(first), SourceIdentity.phone.is_not(None)))
        holders = set(session.scalars(select(SourceIdentity.id).where(
            SourceIdentity.phone == locker)))
        lockers = [add(session, context, source="pdd", external_id=f"rcv-locker-{i}",
                       name=f"顾客{i:02d}", phone=locker, kind="receiver") for i in range(14)]
        new = add_records(session, context, people.records(12)) + lockers
        # Records of people seen before, on another source.
        new += add_records(session, context, People(5, tag="again-").records(6))
        result = resolve_incremental(session, new, now=context.clock.now(), cache=cache)
    assert result.model_id == full.model_id
    incremental, links = _assignment(context), _probable(context)
    kept = cache.load(fingerprint(max_identities=12))
    assert kept is not None
    rows = {r["unique_id"]: r for r in kept.table.to_pylist()}
    assert set(rows) == set(incremental)
    assert all(rows[h]["phone"] != locker for h in holders | set(lockers))

    with context.sessions.begin() as session:
        again = resolve_full(session, now=context.clock.now(), cache=cache)
    assert (again.merges, again.splits) == (0, 0)
    assert _assignment(context) == incremental
    assert _probable(context) == links


@pytest.mark.slow
def test_records_changed_outside_a_run_are_read_again(sqlite_context: AppContext,
                                                      clock: FakeClock) -> None:
    """A record changed without being handed to a run (an erasure, an import whose
    resolution failed) is newer than the cache: the next run reads it from the store."""
    context = sqlite_context
    cache = cache_for(context.settings.home)
    with context.sessions.begin() as session:
        first = add_records(session, context, People(5).records(70))
        assert resolve_full(session, now=context.clock.now(), cache=cache).model_id
    clock.advance(timedelta(hours=1))
    with context.sessions.begin() as session:
        session.execute(update(SourceIdentity).where(SourceIdentity.id == first[3]).values(
            address_detail="长江路8号", updated_at=context.clock.now()))
    with context.sessions.begin() as session:
        # Rows the cache lacks (as after a rolled-back run) are read too.
        session.execute(update(SourceIdentity).where(SourceIdentity.id == first[5]).values(
            name="赵敏"))
    cache.forget([first[5]])
    with context.sessions.begin() as session:
        new = add_records(session, context, People(9).records(1))
        resolve_incremental(session, new, now=context.clock.now(), cache=cache)
    kept = cache.load(fingerprint(max_identities=12))
    assert kept is not None
    rows = {r["unique_id"]: r for r in kept.table.to_pylist()}
    assert set(rows) == set(first) | set(new)
    assert rows[first[3]]["address_key"] == "长江路8号"
    assert rows[first[5]]["name"] == "赵敏"
