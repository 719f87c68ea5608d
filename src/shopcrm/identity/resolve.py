"""Running identity resolution: full, or incrementally after an import.

A run loads the records in scope, turns shared identifiers into edges (rules), adds
probable matches (matching), computes connected components under the never-merge
constraints, and writes what changed: identities' customer IDs, customers created,
reactivated or merged away, one ``identity_merges`` event per change with its
evidence, review-queue entries, and the followers (consents, points…).

Incremental runs take the records an import touched and widen the scope to every
component they could join (records sharing a key value, probable matches, and the
customers of all of them). Components are closed under their edges, so recomputing
that scope gives exactly what a full run with the same model gives.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import (
    BigInteger,
    Column,
    MetaData,
    Table,
    and_,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session

from shopcrm.accounts.audit import SYSTEM, Actor
from shopcrm.customers.profile import PROFILE_FIELDS, SOURCE_TRUST
from shopcrm.identity import followers, matching
from shopcrm.identity.cache import ComparableCache, fingerprint
from shopcrm.identity.models import (
    IdentityKey,
    IdentityLink,
    IdentityMerge,
    MatchModel,
    MatchReview,
    ResolutionRun,
    SharedIdentifier,
)
from shopcrm.identity.records import RECORD_COLUMNS, prepare
from shopcrm.identity.rules import (
    Edge,
    KeyPolicy,
    KeyUse,
    decide_key,
    is_verified,
    names_compatible,
    resolve_components,
)
from shopcrm.store.bulk import bulk_insert
from shopcrm.store.models import Customer, SourceIdentity

log = logging.getLogger(__name__)

EVENTS_RETURNED = 100
"""Runs making more changes than this (imports, full runs) report counts only."""
KEY_PRIORITY = {"member": 1, "wechat": 1, "email": 2, "phone": 3, "device": 4}
METHOD_STRENGTH = {"manual": 3, "key": 2, "probable": 1}
@dataclass(frozen=True)
class ResolutionSettings:
    auto_threshold: float = 0.99
    """Probable matches at or above this merge by themselves (names must fit)."""
    review_threshold: float = 0.8
    """Between this and ``auto_threshold``: a person decides in the review queue."""
    policy: KeyPolicy = field(default_factory=KeyPolicy)
    min_records_to_train: int = 50
    retrain_growth: float = 2.0
    """Retrain (and resolve everything) once the shop has this many times the records the
    model was trained on."""
    spark: Any = None
    """A Spark session (``matching.spark_session``): probable matches are then scored on
    Spark instead of DuckDB, with the same model — for shops too big for one machine."""


@dataclass
class ResolutionResult:
    mode: str
    records: int = 0
    key_edges: int = 0
    probable_edges: int = 0
    reviews_added: int = 0
    shared_identifiers: int = 0
    merges: int = 0
    splits: int = 0
    identities_moved: int = 0
    customers: int = 0
    model_id: int | None = None
    seconds: float = 0.0
    note: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class _Scope:
    """The records of one run and what is known about them."""

    identities: pa.Table
    current: dict[int, int | None]
    ids: list[int] = field(default_factory=list)


def resolve_full(session: Session, *, now: datetime, actor: Actor = SYSTEM,
                 retrain: bool = False, settings: ResolutionSettings | None = None,
                 cache: ComparableCache | None = None) -> ResolutionResult:
    """Resolve every record (training the match model first when asked or untrained);
    the comparable records are kept in ``cache`` for later incremental runs."""
    settings = settings or ResolutionSettings()
    started = time.perf_counter()
    result = ResolutionResult(mode="full")
    run = _start_run(session, "full", now)
    watermark = _watermark(session)
    scope = _load_scope(session, None)
    records = prepare(_comparable(session, scope.identities, settings.policy))
    if cache is not None:
        with cache.locked():
            cache.save(records, expected=_fingerprint(settings), watermark=watermark)
    model_row = _model(session)
    if (retrain or model_row is None) and records.num_rows >= settings.min_records_to_train:
        try:
            model_row = MatchModel(trained_at=now, records=records.num_rows,
                                   settings=matching.train(records, matching.shop_spec()))
            session.add(model_row)
            session.flush()
        except matching.TrainingError as exc:
            log.warning("%s; resolving with exact keys only", exc)
            result.note = str(exc)
    pairs = (matching.predict(records, model_row.settings, threshold=settings.review_threshold,
                              spark=settings.spark)
             if model_row is not None and records.num_rows > 1 else [])
    result.model_id = model_row.id if model_row else None
    session.execute(delete(IdentityLink).where(IdentityLink.kind == "probable"))
    session.execute(delete(SharedIdentifier))
    _run(session, scope, pairs, result, settings=settings, now=now, actor=actor,
         full=True)
    result.seconds = round(time.perf_counter() - started, 3)
    _finish_run(run, result, now)
    return result


def resolve_incremental(session: Session, identity_ids: Iterable[int], *, now: datetime,
                        actor: Actor = SYSTEM, settings: ResolutionSettings | None = None,
                        cache: ComparableCache | None = None) -> ResolutionResult:
    """Resolve what these (new or changed) records change, and nothing else. With a
    ``cache`` of the comparable records, only the records it cannot vouch for are read
    from the store."""
    settings = settings or ResolutionSettings()
    started = time.perf_counter()
    result = ResolutionResult(mode="incremental")
    seeds = sorted(set(identity_ids))
    if not seeds:
        return result
    model_row = _model(session)
    records = session.scalar(select(func.count(SourceIdentity.id))) or 0
    if records >= settings.min_records_to_train and (
            model_row is None or records >= settings.retrain_growth * model_row.records):
        # A first model, or one trained on a much smaller shop: train on everything and
        # resolve everything once with it (records compared by the old model or by none
        # would differ from a full run); later runs stay incremental.
        return resolve_full(session, now=now, actor=actor, settings=settings, retrain=True,
                            cache=cache)
    run = _start_run(session, "incremental", now)
    shared = _shared_phones(session, settings.policy)
    pairs: list[matching.ScoredPair] = []
    if model_row is not None:
        seed_set, everyone = _everyone_comparable(session, set(seeds), shared, settings, cache)
        seeds = sorted(seed_set)
        new = everyone.filter(pc.is_in(everyone.column("unique_id"),
                                       pa.array(seeds, pa.int64())))
        pairs = matching.predict_new(everyone, new, model_row.settings,
                                     threshold=settings.review_threshold, spark=settings.spark)
        result.model_id = model_row.id
    else:
        seeds = sorted(set(seeds) | _holders_of_newly_shared(session, seeds, shared))
    _forget_probable_links(session, seeds)
    wider = set(seeds) | _sharing_keys(session, seeds)
    wider |= {p.left for p in pairs} | {p.right for p in pairs}
    scope = _load_scope(session, _with_customers(session, wider))
    _run(session, scope, pairs, result, settings=settings, now=now, actor=actor, full=False)
    result.seconds = round(time.perf_counter() - started, 3)
    _finish_run(run, result, now)
    return result


def resolve_around(session: Session, customer_ids: Iterable[int], *, now: datetime,
                   actor: Actor, action: str | None = None, method: str | None = None,
                   reason: str | None = None, undoes: int | None = None,
                   settings: ResolutionSettings | None = None) -> list[IdentityMerge]:
    """Recompute the components of these customers after a person added a link (merge,
    accepted review) or a never link (un-merge, rejected review); returns the events."""
    settings = settings or ResolutionSettings()
    ids = set(customer_ids)
    scope = _load_scope(session, _with_customers(session, ids | _sharing_keys(
        session, _identities_of(session, ids))))
    result = ResolutionResult(mode="manual")
    return _run(session, scope, [], result, settings=settings, now=now, actor=actor,
                full=False, action=action, method=method, reason=reason, undoes=undoes)


# ------------------------------------------------------------------------- the run

def _run(session: Session, scope: _Scope, pairs: Sequence[matching.ScoredPair],
         result: ResolutionResult, *, settings: ResolutionSettings, now: datetime,
         actor: Actor, full: bool, action: str | None = None, method: str | None = None,
         reason: str | None = None, undoes: int | None = None) -> list[IdentityMerge]:
    ids = scope.ids
    result.records = len(ids)
    names = dict(zip(scope.identities.column("id").to_pylist(),
                     scope.identities.column("name").to_pylist(), strict=True))
    key_edges, shared = _key_edges(session, set(ids), names, settings.policy, full=full)
    result.key_edges = len(key_edges)
    result.shared_identifiers = _record_shared(session, shared, now)

    id_set = set(ids)
    existing = _links(session, id_set)
    probable_edges = [
        Edge(link.identity_a, link.identity_b, link.kind,
             f"{link.kind}:{link.probability:.4f}" if link.probability else link.kind,
             (0 if link.kind == "manual" else 5, link.probability or 0.0, ""))
        for link in existing if link.kind in ("manual", "probable")]
    never = [(link.identity_a, link.identity_b) for link in existing if link.kind == "never"]
    known = {(link.identity_a, link.identity_b) for link in existing}
    reviews: list[tuple[int, int, str, float | None, dict[str, Any] | None]] = []
    new_links: list[dict[str, Any]] = []
    for pair in pairs:
        if pair.left not in id_set or pair.right not in id_set:
            continue
        name_level = pair.weights.get("name", {}).get("level", -1)
        names_fit = name_level != 0 or names_compatible(names.get(pair.left),
                                                        names.get(pair.right))
        if pair.probability >= settings.auto_threshold and names_fit:
            edge = Edge(pair.left, pair.right, "probable", f"probable:{pair.probability:.4f}",
                        (5, pair.probability, ""))
            probable_edges.append(edge)
            if (pair.left, pair.right) not in known:
                new_links.append({"identity_a": pair.left, "identity_b": pair.right,
                                  "kind": "probable", "probability": pair.probability,
                                  "evidence": {"weights": pair.weights}, "created_at": now,
                                  "created_by": "resolver"})
                known.add((pair.left, pair.right))
        else:
            reviews.append((pair.left, pair.right, "grey-band" if names_fit else "name-differs",
                            pair.probability, pair.weights))
    if new_links:
        session.execute(insert(IdentityLink), new_links)
    result.probable_edges = sum(1 for e in probable_edges if e.method == "probable")
    kinds = dict(zip(scope.identities.column("id").to_pylist(),
                     scope.identities.column("kind").to_pylist(), strict=True))
    sources = dict(zip(scope.identities.column("id").to_pylist(),
                       scope.identities.column("source").to_pylist(), strict=True))
    externals = dict(zip(scope.identities.column("id").to_pylist(),
                         scope.identities.column("external_id").to_pylist(), strict=True))
    verified = {i: sources[i] for i in ids if is_verified(kinds.get(i), externals[i] or "")}
    edges = key_edges + probable_edges
    assignment, refused = resolve_components(ids, edges, verified=verified, never=never)
    for refusal in refused:
        if refusal.reason != "never-link":
            reviews.append((refusal.edge.a, refusal.edge.b, refusal.reason, None,
                            {"evidence": refusal.edge.evidence}))
    result.reviews_added = _add_reviews(session, reviews, assignment, now)
    events, counts = _apply(session, scope, assignment, edges, now=now, actor=actor,
                            action=action, method=method, reason=reason, undoes=undoes)
    result.merges = counts["merge"]
    result.splits = counts["split"] + counts["unmerge"]
    result.identities_moved = counts["moved"]
    result.customers = len(set(assignment.values()))
    return events


def _key_edges(session: Session, ids: set[int], names: dict[int, str | None],
               policy: KeyPolicy, *, full: bool) -> tuple[list[Edge], list[tuple[str, str, int,
                                                                                int]]]:
    keys = cast(Table, IdentityKey.__table__)
    rows: Iterable[Any]
    if full:
        wanted = (select(keys.c.kind, keys.c.value).group_by(keys.c.kind, keys.c.value)
                  .having(func.count() > 1).subquery())
        rows = session.execute(
            select(keys.c.kind, keys.c.value, keys.c.identity_id, keys.c.name_seen)
            .join(wanted, and_(wanted.c.kind == keys.c.kind, wanted.c.value == keys.c.value))
            .order_by(keys.c.kind, keys.c.value, keys.c.identity_id))
    else:
        # Only the values the scope's records carry (the scope holds every record that
        # shares one), by indexed look-ups: a join lets SQLite scan every key twice.
        rows = sorted(_key_holders(session, ids), key=lambda r: (r[0], r[1], r[2]))
    edges: list[Edge] = []
    shared: list[tuple[str, str, int, int]] = []
    group: list[KeyUse] = []
    current: tuple[str, str] | None = None

    def close() -> None:
        if current is None or len(group) < 2:
            return
        decision = decide_key(current[0], current[1], group, policy,
                              KEY_PRIORITY.get(current[0], 9))
        edges.extend(decision.edges)
        if decision.shared:
            shared.append((current[0], current[1], len(group), decision.names))

    for kind, value, identity_id, name_seen in rows:
        if (kind, value) != current:
            close()
            current, group = (kind, value), []
        if identity_id in ids:
            group.append(KeyUse(identity_id, names.get(identity_id), name_seen))
    close()
    return edges, shared


def _record_shared(session: Session, shared: list[tuple[str, str, int, int]],
                   now: datetime) -> int:
    for kind, value, identities, names in shared:
        row = session.get(SharedIdentifier, (kind, value))
        if row is None:
            session.add(SharedIdentifier(kind=kind, value=value, identities=identities,
                                         names=names, detected_at=now))
        else:
            row.identities, row.names = identities, names
    return len(shared)


def _links(session: Session, ids: set[int]) -> list[Any]:
    """The links among these records (rows, not ORM objects: a scope holds thousands)."""
    found: list[Any] = []
    ordered = sorted(ids)
    columns = (IdentityLink.id, IdentityLink.identity_a, IdentityLink.identity_b,
               IdentityLink.kind, IdentityLink.probability)
    for start in range(0, len(ordered), 500):
        chunk = ordered[start:start + 500]
        # Two indexed look-ups; an OR of both would scan the table on SQLite.
        found += session.execute(select(*columns).where(IdentityLink.identity_a.in_(chunk)))
        found += session.execute(select(*columns).where(IdentityLink.identity_b.in_(chunk)))
    unique = {link.id: link for link in found}
    return [unique[k] for k in sorted(unique)
            if unique[k].identity_a in ids and unique[k].identity_b in ids]


def _add_reviews(session: Session,
                 reviews: list[tuple[int, int, str, float | None, dict[str, Any] | None]],
                 assignment: dict[int, int], now: datetime) -> int:
    rows: list[dict[str, Any]] = []
    lefts = sorted({min(a, b) for a, b, *_ in reviews})
    seen: set[tuple[int, int]] = set()
    for start in range(0, len(lefts), 500):
        seen.update(session.execute(select(MatchReview.identity_a, MatchReview.identity_b)
                                    .where(MatchReview.identity_a.in_(lefts[start:start + 500]))
                                    ).all())
    for a, b, reason, probability, weights in reviews:
        a, b = min(a, b), max(a, b)
        if assignment.get(a) == assignment.get(b) or (a, b) in seen:
            continue
        seen.add((a, b))
        rows.append({"identity_a": a, "identity_b": b, "reason": reason,
                     "probability": probability, "weights": weights, "status": "pending",
                     "created_at": now})
    if rows:
        session.execute(insert(MatchReview), rows)
    return len(rows)


# ------------------------------------------------------------------------ applying

def _apply(session: Session, scope: _Scope, assignment: dict[int, int], edges: list[Edge], *,
           now: datetime, actor: Actor, action: str | None, method: str | None,
           reason: str | None, undoes: int | None
           ) -> tuple[list[IdentityMerge], Counter[str]]:
    """Write what changed; returns the events (when few enough to hand back) and the
    counts of merges, splits, un-merges and moved identities."""
    moves: dict[tuple[int | None, int], list[int]] = defaultdict(list)
    for identity, customer in assignment.items():
        if scope.current.get(identity) != customer:
            moves[(scope.current.get(identity), customer)].append(identity)
    if not moves:
        return [], Counter()
    roots = sorted(set(assignment.values()))
    _ensure_customers(session, roots, now)
    _move_identities(session, [(i, c) for (_, c), ms in moves.items() for i in ms])

    remaining = Counter(c for c in assignment.values())
    old_customers = {old for (old, _) in moves if old is not None}
    evidence_by_root = _evidence(edges, assignment)
    pending: list[tuple[dict[str, Any], datetime | None]] = []
    for (old, new), moved in sorted(moves.items(), key=lambda kv: (kv[0][1], kv[0][0] or 0)):
        if old is None:
            continue
        emptied = remaining.get(old, 0) == 0
        strongest = max((METHOD_STRENGTH.get(m, 0), m) for m in
                        evidence_by_root.get(new, {}).get("methods", {"key"}))[1]
        event_action = action or ("merge" if emptied else "split")
        survivor, merged = (new, old) if emptied else (old, new)
        since = None
        if event_action in ("split", "unmerge"):
            previous = session.scalar(
                select(IdentityMerge).where(IdentityMerge.action == "merge",
                                            IdentityMerge.survivor_id.in_((old, new)),
                                            IdentityMerge.merged_id.in_((old, new)))
                .order_by(IdentityMerge.id.desc()).limit(1))
            since = previous.at if previous else None
            if previous is not None and event_action == "unmerge":
                survivor, merged = previous.survivor_id, previous.merged_id
        pending.append(({
            "action": event_action, "method": method or strongest, "survivor_id": survivor,
            "merged_id": merged, "moved": sorted(moved),
            "evidence": {"edges": evidence_by_root.get(new, {}).get("edges", [])[:10]},
            "reason": reason, "actor": actor.label[:100], "at": now, "undoes_id": undoes,
        }, since))
    counts: Counter[str] = Counter(row["action"] for row, _ in pending)
    counts["moved"] = sum(len(row["moved"]) for row, _ in pending)
    ids: list[int] = []
    if pending:
        ids = list(session.scalars(
            insert(IdentityMerge).returning(IdentityMerge.id, sort_by_parameter_order=True),
            [row for row, _ in pending]))
    if undoes is not None and ids:
        session.execute(update(IdentityMerge).where(IdentityMerge.id == undoes)
                        .values(undone_by_id=ids[0]))
    followers.apply(session, [
        followers.CustomerMove(survivor_id=row["survivor_id"], merged_id=row["merged_id"],
                               merge_id=merge_id, undo=row["action"] != "merge", since=since)
        for (row, since), merge_id in zip(pending, ids, strict=True)], now, actor)

    went_to: dict[int, Counter[int]] = defaultdict(Counter)
    for (old, new), moved in moves.items():
        if old is not None:
            went_to[old][new] += len(moved)
    emptied_rows = [
        {"id": old, "status": "merged", "merged_into": went_to[old].most_common(1)[0][0],
         "updated_at": now}
        for old in sorted(old_customers) if remaining.get(old, 0) == 0]
    if emptied_rows:
        session.execute(update(Customer), emptied_rows)
    _survivorship(session, sorted(set(roots) & ({n for (_, n) in moves} | old_customers)), now)
    events = (list(session.scalars(select(IdentityMerge).where(IdentityMerge.id.in_(ids))
                                   .order_by(IdentityMerge.id)))
              if len(ids) <= EVENTS_RETURNED else [])
    return events, counts


def _evidence(edges: list[Edge], assignment: dict[int, int]) -> dict[int, dict[str, Any]]:
    found: dict[int, dict[str, Any]] = {}
    for edge in edges:
        root = assignment.get(edge.a)
        if root is None or root != assignment.get(edge.b):
            continue
        entry = found.setdefault(root, {"edges": [], "methods": set()})
        entry["methods"].add(edge.method)
        if len(entry["edges"]) < 10:
            entry["edges"].append({"a": edge.a, "b": edge.b, "method": edge.method,
                                   "evidence": _mask_evidence(edge.evidence)})
    return found


def _mask_evidence(evidence: str) -> str:
    """Evidence names the identifier kind and only the end of its value (audit rows
    outlive erasure, so they must not keep a full phone or e-mail)."""
    kind, _, value = evidence.partition(":")
    if kind in ("phone", "email", "device", "wechat", "member") and value:
        return f"{kind}:…{value[-4:]}"
    return evidence


def _ensure_customers(session: Session, roots: list[int], now: datetime) -> None:
    existing = {}
    for start in range(0, len(roots), 500):
        chunk = roots[start:start + 500]
        existing.update(dict(session.execute(
            select(Customer.id, Customer.status).where(Customer.id.in_(chunk))).all()))
    for root in roots:
        status = existing.get(root)
        if status is None:
            session.add(Customer(id=root, status="active", created_at=now, updated_at=now))
        elif status == "merged":
            session.execute(update(Customer).where(Customer.id == root).values(
                status="active", merged_into=None, updated_at=now))
    session.flush()


def _move_identities(session: Session, pairs: list[tuple[int, int]]) -> None:
    if not pairs:
        return
    connection = session.connection()
    stage = Table("stage_identity_moves", MetaData(), Column("id", BigInteger),
                  Column("customer_id", BigInteger), prefixes=["TEMPORARY"])
    stage.drop(connection, checkfirst=True)
    stage.create(connection)
    bulk_insert(connection, stage.name, ("id", "customer_id"), pairs)
    ident = cast(Table, SourceIdentity.__table__)
    connection.execute(update(ident).where(ident.c.id == stage.c.id)
                       .values(customer_id=stage.c.customer_id))
    stage.drop(connection)


def _survivorship(session: Session, customers: list[int], now: datetime) -> None:
    """Each customer's profile values: per field the value of the most recently seen
    identity that has one, a shop's own records before marketplaces on equal dates."""
    for start in range(0, len(customers), 500):
        chunk = customers[start:start + 500]
        rows = session.execute(
            select(SourceIdentity.customer_id, SourceIdentity.source,
                   SourceIdentity.last_seen_at, SourceIdentity.first_seen_at,
                   *[getattr(SourceIdentity, f) for f in PROFILE_FIELDS])
            .where(SourceIdentity.customer_id.in_(chunk))).all()
        by_customer: dict[int, list[Any]] = defaultdict(list)
        for row in rows:
            by_customer[row[0]].append(row)
        session.execute(update(Customer), [
            {"id": customer_id, **profile_values(members), "updated_at": now}
            for customer_id, members in by_customer.items()])


def profile_values(members: Sequence[Any]) -> dict[str, Any]:
    """Survivorship over rows (customer_id, source, last_seen, first_seen, *fields)."""
    def rank(row: Any) -> tuple[float, int]:
        seen = row[2]
        return (-(seen.timestamp() if seen else 0.0), SOURCE_TRUST.get(row[1], 5))

    ordered = sorted(members, key=rank)
    values: dict[str, Any] = {}
    for index, name in enumerate(PROFILE_FIELDS):
        values[name] = next((r[4 + index] for r in ordered if r[4 + index]), None)
    seen_last = [r[2] for r in members if r[2] is not None]
    seen_first = [r[3] for r in members if r[3] is not None]
    values["last_seen_at"] = max(seen_last) if seen_last else None
    values["first_seen_at"] = min(seen_first) if seen_first else None
    return values


# ------------------------------------------------------------------------- loading

def _load_scope(session: Session, ids: set[int] | None) -> _Scope:
    columns = [getattr(SourceIdentity, c) for c in RECORD_COLUMNS]
    query = select(*columns, SourceIdentity.customer_id, SourceIdentity.external_id
                   ).order_by(SourceIdentity.id)
    rows: list[Any] = []
    if ids is None:
        # Every record: straight through the driver (a million rows, no ORM rows).
        compiled = query.compile(session.connection(), compile_kwargs={"literal_binds": True})
        rows = list(session.connection().exec_driver_sql(str(compiled)).fetchall())
    else:
        ordered = sorted(ids)
        for start in range(0, len(ordered), 500):
            rows += session.execute(query.where(
                SourceIdentity.id.in_(ordered[start:start + 500]))).all()
        rows.sort(key=lambda r: r[0])
    names = [*RECORD_COLUMNS, "customer_id", "external_id"]
    types = {"id": pa.int64(), "customer_id": pa.int64()}
    table = pa.table({n: pa.array([r[i] for r in rows], types.get(n, pa.string()))
                      for i, n in enumerate(names)})
    current = dict(zip(table.column("id").to_pylist(), table.column("customer_id").to_pylist(),
                       strict=True))
    return _Scope(identities=table, current=current, ids=list(current))


def _shared_phones(session: Session, policy: KeyPolicy) -> set[str]:
    # count(*) = count of distinct identities (a record holds a value once: unique key),
    # and the (kind, value) index covers it.
    shared = set(session.scalars(
        select(IdentityKey.value).where(IdentityKey.kind == "phone")
        .group_by(IdentityKey.value)
        .having(func.count() > policy.max_identities)))
    shared |= set(session.scalars(select(SharedIdentifier.value)
                                  .where(SharedIdentifier.kind == "phone")))
    return shared


def _fingerprint(settings: ResolutionSettings) -> str:
    return fingerprint(max_identities=settings.policy.max_identities)


def _watermark(session: Session) -> datetime | None:
    return session.scalar(select(func.max(SourceIdentity.updated_at)))


def _everyone_comparable(session: Session, seeds: set[int], shared: set[str],
                         settings: ResolutionSettings, cache: ComparableCache | None,
                         ) -> tuple[set[int], pa.Table]:
    """The comparable form of every record, and the seeds widened by the records whose
    form a newly shared phone changed (they are compared again).

    From the cache when it is valid: only the seeds, records changed since it was written
    and records it lacks are read from the store. Otherwise every record is read (and
    the cache rebuilt)."""
    if cache is None:
        seeds |= _holders_of_newly_shared(session, sorted(seeds), shared)
        return seeds, _read_comparable(session, None, settings.policy, shared)
    expected = _fingerprint(settings)
    with cache.locked():
        cached = cache.load(expected)
        if cached is None:
            watermark = _watermark(session)
            seeds |= _holders_of_newly_shared(session, sorted(seeds), shared)
            everyone = _read_comparable(session, None, settings.policy, shared)
        else:
            table = cached.table
            cached_ids = table.column("unique_id")
            # A cached form never holds a phone that was shared when it was written.
            now_shared = table.filter(pc.is_in(table.column("phone"),
                                               pa.array(sorted(shared), pa.string())))
            seeds |= set(now_shared.column("unique_id").to_pylist())
            changed, watermark = _changed_since(session, cached.watermark)
            stale = seeds | changed
            stale_ids = pa.array(sorted(stale), pa.int64())
            kept = table.filter(pc.invert(pc.is_in(cached_ids, stale_ids)))
            fresh = _read_comparable(session, stale, settings.policy, shared)
            everyone = pa.concat_tables([kept, fresh.cast(kept.schema)])
            everyone = _complete(session, everyone, settings.policy, shared)
        cache.save(everyone, expected=expected, watermark=watermark)
    return seeds, everyone


def _read_comparable(session: Session, ids: set[int] | None, policy: KeyPolicy,
                     shared: set[str]) -> pa.Table:
    return prepare(_comparable(session, _load_scope(session, ids).identities, policy, shared))


def _changed_since(session: Session, watermark: datetime | None
                   ) -> tuple[set[int], datetime | None]:
    """Records updated after the watermark, and the new watermark (one scan: the newest
    of their times, or the old watermark when none changed)."""
    query = select(SourceIdentity.id, SourceIdentity.updated_at)
    if watermark is not None:
        query = query.where(SourceIdentity.updated_at > watermark)
    rows = session.execute(query).all()
    times = [t for _, t in rows if t is not None]
    return {i for i, _ in rows}, max([*times, *([watermark] if watermark else [])],
                                     default=None)


def _complete(session: Session, table: pa.Table, policy: KeyPolicy,
              shared: set[str]) -> pa.Table:
    """The table with rows for records it lacks (a run whose changes were rolled back)
    and without rows of records the store no longer has."""
    count = session.scalar(select(func.count(SourceIdentity.id))) or 0
    if count == table.num_rows:
        return table
    have = set(table.column("unique_id").to_pylist())
    stored = set(session.scalars(select(SourceIdentity.id)))
    extra = pa.array(sorted(have - stored), pa.int64())
    if len(extra):
        table = table.filter(pc.invert(pc.is_in(table.column("unique_id"), extra)))
    missing = stored - have
    if not missing:
        return table
    fresh = _read_comparable(session, missing, policy, shared)
    return pa.concat_tables([table, fresh.cast(table.schema)])


def _holders_of_newly_shared(session: Session, seeds: Sequence[int],
                             shared: set[str]) -> set[int]:
    """Records whose phone the seeds may just have made shared: their comparable form
    changes (the phone no longer counts), so they are compared again."""
    phones: set[str] = set()
    for start in range(0, len(seeds), 500):
        phones.update(session.scalars(select(IdentityKey.value).where(
            IdentityKey.kind == "phone", IdentityKey.identity_id.in_(seeds[start:start + 500]))))
    touched = sorted(phones & shared)
    if not touched:
        return set()
    return set(session.scalars(select(SourceIdentity.id).where(
        SourceIdentity.phone.in_(touched))))


def _forget_probable_links(session: Session, seeds: Sequence[int]) -> None:
    """Probable links of records being compared again are re-decided from scratch."""
    for start in range(0, len(seeds), 500):
        chunk = seeds[start:start + 500]
        session.execute(delete(IdentityLink).where(
            IdentityLink.kind == "probable",
            or_(IdentityLink.identity_a.in_(chunk), IdentityLink.identity_b.in_(chunk))))


def _record_columns(table: pa.Table) -> pa.Table:
    return table.select(list(RECORD_COLUMNS))


def _comparable(session: Session, table: pa.Table, policy: KeyPolicy,
                shared: set[str] | None = None) -> pa.Table:
    """Records for the matcher: a shared phone (a parcel locker's) says nothing about
    who someone is, so it is replaced by the record's newest phone of its own, if any."""
    if shared is None:
        shared = _shared_phones(session, policy)
    phones = table.column("phone").to_pylist()
    ids = table.column("id").to_pylist()
    affected = [i for i, p in zip(ids, phones, strict=True) if p in shared]
    if not affected:
        return _record_columns(table)
    own: dict[int, str] = {}
    for start in range(0, len(affected), 500):
        for identity, value in session.execute(
                select(IdentityKey.identity_id, IdentityKey.value)
                .where(IdentityKey.identity_id.in_(affected[start:start + 500]),
                       IdentityKey.kind == "phone")
                .order_by(IdentityKey.last_seen_at)):
            if value not in shared:
                own[identity] = value
    fixed = [own.get(i) if p in shared else p for i, p in zip(ids, phones, strict=True)]
    index = table.schema.get_field_index("phone")
    return _record_columns(table.set_column(index, "phone", pa.array(fixed, pa.string())))


def _sharing_keys(session: Session, seeds: Iterable[int]) -> set[int]:
    """Records sharing any key value with the seeds."""
    return {row[2] for row in _key_holders(session, seeds)}


def _key_holders(session: Session, ids: Iterable[int]) -> list[Any]:
    """(kind, value, identity_id, name_seen) of every key holding a value these records
    carry: their values first (by the identity index), then every holder (by the value
    index) — a self-join would let SQLite scan the whole key table."""
    ordered = sorted(set(ids))
    values: dict[str, set[str]] = defaultdict(set)
    for start in range(0, len(ordered), 500):
        for kind, value in session.execute(select(IdentityKey.kind, IdentityKey.value).where(
                IdentityKey.identity_id.in_(ordered[start:start + 500]))):
            values[kind].add(value)
    found: list[Any] = []
    for kind, wanted in values.items():
        listed = sorted(wanted)
        for start in range(0, len(listed), 500):
            found += session.execute(
                select(IdentityKey.kind, IdentityKey.value, IdentityKey.identity_id,
                       IdentityKey.name_seen)
                .where(IdentityKey.kind == kind,
                       IdentityKey.value.in_(listed[start:start + 500]))).all()
    return found


def _with_customers(session: Session, ids: set[int]) -> set[int]:
    """These records and every record of their current customers."""
    ordered = sorted(ids)
    customers: set[int] = set()
    for start in range(0, len(ordered), 500):
        customers.update(c for c in session.scalars(
            select(SourceIdentity.customer_id).where(
                SourceIdentity.id.in_(ordered[start:start + 500]))) if c is not None)
    return set(ids) | _identities_of(session, customers)


def _identities_of(session: Session, customers: Iterable[int]) -> set[int]:
    ordered = sorted(set(customers))
    found: set[int] = set()
    for start in range(0, len(ordered), 500):
        found.update(session.scalars(select(SourceIdentity.id).where(
            SourceIdentity.customer_id.in_(ordered[start:start + 500]))))
    return found


def _model(session: Session) -> MatchModel | None:
    return session.scalar(select(MatchModel).order_by(MatchModel.id.desc()).limit(1))


def _start_run(session: Session, mode: str, now: datetime) -> ResolutionRun:
    run = ResolutionRun(mode=mode, started_at=now)
    session.add(run)
    session.flush()
    return run


def _finish_run(run: ResolutionRun, result: ResolutionResult, now: datetime) -> None:
    run.finished_at = now
    run.stats = result.as_dict()
