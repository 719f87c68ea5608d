"""Pure rules of identity resolution: when two records may be joined, and the graph.

No I/O here: the resolver loads identities and keys, these functions decide, and
the resolver writes the result. Everything is deterministic (edges are processed in a
canonical order) so an incremental run gives exactly what a full run gives.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

_TITLE = re.compile(r"^([\u4e00-\u9fff]{1,2})(女士|先生|小姐)$")
_CJK = re.compile(r"^[\u4e00-\u9fff]")

VERIFIED_KINDS = frozenset({"buyer", "customer", "member"})
"""Identity kinds that are an account of their own: two accounts of one source are two
registered accounts, so they never merge without a person deciding."""
DERIVED_KEYS = ("email:", "rcv:", "phone:", "device:")


def is_verified(kind: str | None, external_id: str) -> bool:
    """An account the source itself registered: a shop's customer record, a member card,
    a platform buyer ID — not a key shopcrm derived because the source gave no account
    (a buyer known only by e-mail; a receiver)."""
    if kind in ("customer", "member"):
        return True
    return kind == "buyer" and not external_id.startswith(DERIVED_KEYS)


def name_title_surname(name: str) -> str | None:
    """The surname of a name that is only a title (``王女士`` → ``王``), else None."""
    match = _TITLE.match(name)
    return match.group(1) if match else None


def surname(name: str) -> str:
    if _CJK.match(name):
        return name_title_surname(name) or name[0]
    return name.split()[-1].lower() if name.split() else ""


def names_compatible(a: str | None, b: str | None) -> bool:
    """Could these two names belong to one person? A missing name says nothing; a
    title (王女士) fits any full name with that surname; otherwise they must be equal
    (case and spacing aside)."""
    if not a or not b:
        return True
    na, nb = " ".join(a.lower().split()), " ".join(b.lower().split())
    if na == nb:
        return True
    ta, tb = name_title_surname(a), name_title_surname(b)
    if ta and tb:
        return ta == tb and a[-2:] == b[-2:]
    if ta:
        return nb.startswith(ta)
    if tb:
        return na.startswith(tb)
    return False


@dataclass(frozen=True)
class KeyUse:
    """One identity seen with one identifier value."""

    identity_id: int
    name: str | None
    """The identity's own (owner's) name."""
    name_seen: str | None
    """The name that came with this value (e.g. the receiver of the order)."""


@dataclass(frozen=True)
class KeyPolicy:
    max_identities: int = 12
    """An identifier on more records than this is shared (a locker, a switchboard)."""
    max_names: int = 3
    """… or used under more different full names than this."""


@dataclass(frozen=True)
class Edge:
    a: int
    b: int
    method: str  # manual | key | probable
    evidence: str
    """What joins them: ``phone:+86138…``, ``probable:0.998``, ``manual``."""
    priority: tuple[int, float, str] = (0, 0.0, "")


@dataclass
class KeyDecision:
    edges: list[Edge] = field(default_factory=list)
    shared: bool = False
    names: int = 0


def decide_key(kind: str, value: str, uses: Sequence[KeyUse], policy: KeyPolicy,
               priority: int) -> KeyDecision:
    """Which of the records sharing one identifier value it joins.

    A value only counts for a record when the name seen with it fits the record's own
    name (a gift's receiver phone is not the buyer's). A value used by too many records
    or names is shared and joins nothing. Otherwise records join when their names fit
    one person; where several full names use the value (a family phone) only records
    with the same full name join through it.
    """
    own = [u for u in uses if names_compatible(u.name_seen, u.name)]
    ids = sorted({u.identity_id for u in own})
    full_names = {_plain(u.name_seen or u.name) for u in own} - {None}
    full_names = {n for n in full_names if n and not name_title_surname(n)}
    decision = KeyDecision(names=len(full_names))
    if len(ids) < 2:
        return decision
    if len(ids) > policy.max_identities or len(full_names) > policy.max_names:
        decision.shared = True
        return decision
    evidence = f"{kind}:{value}"
    if len(full_names) <= 1:
        anchor = ids[0]
        decision.edges = [Edge(anchor, other, "key", evidence, (priority, 0.0, evidence))
                          for other in ids[1:]]
        return decision
    groups: dict[str, set[int]] = defaultdict(set)
    for u in own:
        name = _plain(u.name_seen or u.name)
        if name and not name_title_surname(name):
            groups[name].add(u.identity_id)
    for members in groups.values():
        ordered = sorted(members)
        decision.edges += [Edge(ordered[0], other, "key", evidence, (priority, 0.0, evidence))
                           for other in ordered[1:]]
    return decision


def _plain(name: str | None) -> str | None:
    return " ".join(name.lower().split()) if name else None


@dataclass(frozen=True)
class Refusal:
    edge: Edge
    reason: str  # verified-conflict | never-link


class Components:
    """Union-find whose roots are the smallest member ID, with cannot-link constraints.

    A union is refused when it would put two records under a *never* link together, or
    two verified accounts of the same source (two registered accounts are two people
    until a person decides otherwise). Manual edges skip the verified check: a person
    decided.
    """

    def __init__(self, ids: Iterable[int], *, verified: dict[int, str],
                 never: Iterable[tuple[int, int]]) -> None:
        self.parent: dict[int, int] = {i: i for i in ids}
        self._verified: dict[int, dict[str, int]] = {}
        for identity, source in verified.items():
            if identity in self.parent:
                self._verified[identity] = {source: identity}
        self._never: dict[int, set[int]] = defaultdict(set)
        for a, b in never:
            if a in self.parent and b in self.parent:
                self._never[a].add(b)
                self._never[b].add(a)
        self._members: dict[int, list[int]] = {}

    def find(self, x: int) -> int:
        root = x
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[x] != root:
            self.parent[x], x = root, self.parent[x]
        return root

    def union(self, edge: Edge) -> Refusal | None:
        ra, rb = self.find(edge.a), self.find(edge.b)
        if ra == rb:
            return None
        never_a = self._never.get(ra, set())
        if never_a and any(self.find(x) == rb for x in never_a):
            return Refusal(edge, "never-link")
        va, vb = self._verified.get(ra, {}), self._verified.get(rb, {})
        if edge.method != "manual" and any(
                s in vb and vb[s] != i for s, i in va.items()):
            return Refusal(edge, "verified-conflict")
        keep, gone = (ra, rb) if ra < rb else (rb, ra)
        self.parent[gone] = keep
        if va or vb:
            merged = {**self._verified.get(gone, {}), **self._verified.get(keep, {})}
            self._verified[keep] = merged
            self._verified.pop(gone, None)
        if gone in self._never:
            self._never[keep] |= self._never.pop(gone)
        return None

    def assignment(self) -> dict[int, int]:
        return {x: self.find(x) for x in self.parent}


def edge_order(edge: Edge) -> tuple[int, float, str, int, int]:
    """Manual first, then exact keys by kind, then probable matches strongest first."""
    rank, strength, evidence = edge.priority
    return (rank, -strength, evidence, edge.a, edge.b)


def resolve_components(ids: Iterable[int], edges: Iterable[Edge], *, verified: dict[int, str],
                       never: Iterable[tuple[int, int]]) -> tuple[dict[int, int], list[Refusal]]:
    """Identity → customer (the smallest identity ID of its component), and the edges
    the constraints refused (for the review queue)."""
    components = Components(ids, verified=verified, never=never)
    refused = [r for e in sorted(edges, key=edge_order) if (r := components.union(e))]
    return components.assignment(), refused
