"""Pure rules of identity resolution: names, shared identifiers, constrained components."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from shopcrm.identity.quality import pairwise_scores
from shopcrm.identity.rules import (
    Edge,
    KeyPolicy,
    KeyUse,
    decide_key,
    names_compatible,
    resolve_components,
)


def test_names_compatible() -> None:
    assert names_compatible("王芳", "王芳")
    assert names_compatible("王女士", "王芳")
    assert names_compatible("王芳", "王女士")
    assert names_compatible(None, "王芳")
    assert names_compatible("Anna  Smith", "anna smith")
    assert not names_compatible("王芳", "王强")
    assert not names_compatible("李女士", "王芳")
    assert not names_compatible("王女士", "王先生")


def _uses(*rows: tuple[int, str | None, str | None]) -> list[KeyUse]:
    return [KeyUse(i, name, seen) for i, name, seen in rows]


def test_a_personal_phone_joins_records_of_one_name() -> None:
    decision = decide_key("phone", "+8613800000001",
                          _uses((1, "王芳", "王芳"), (7, "王女士", "王女士"), (9, None, None)),
                          KeyPolicy(), 3)
    assert not decision.shared
    assert {(e.a, e.b) for e in decision.edges} == {(1, 7), (1, 9)}


def test_a_family_phone_joins_only_the_same_person() -> None:
    decision = decide_key("phone", "+8613800000002",
                          _uses((1, "王芳", "王芳"), (2, "李强", "李强"), (3, "王芳", "王芳"),
                                (4, "李女士", "李女士")), KeyPolicy(), 3)
    assert {(e.a, e.b) for e in decision.edges} == {(1, 3)}


def test_an_over_connected_identifier_joins_nothing() -> None:
    locker = _uses(*[(i, f"顾客{i}", f"顾客{i}") for i in range(1, 30)])
    decision = decide_key("phone", "+8617510078041", locker, KeyPolicy(), 3)
    assert decision.shared and decision.edges == []
    many_names = _uses((1, "王芳", "王芳"), (2, "李强", "李强"), (3, "张伟", "张伟"),
                       (4, "赵敏", "赵敏"))
    assert decide_key("phone", "x", many_names, KeyPolicy(max_names=3), 3).shared


def test_a_gift_receivers_phone_is_not_the_buyers() -> None:
    # Buyer 1 (王芳) once sent a parcel to her mother 李梅 at the mother's phone.
    decision = decide_key("phone", "+8613900000003",
                          _uses((1, "王芳", "李梅"), (2, "李梅", "李梅")), KeyPolicy(), 3)
    assert decision.edges == []


def _edge(a: int, b: int, method: str = "key", strength: float = 0.0) -> Edge:
    rank = {"manual": 0, "key": 3, "probable": 5}[method]
    return Edge(a, b, method, f"{method}:{a}-{b}", (rank, strength, ""))


def test_components_take_the_smallest_id_and_respect_never_links() -> None:
    assignment, refused = resolve_components(
        [1, 2, 3, 4], [_edge(2, 3), _edge(3, 4), _edge(1, 2)], verified={},
        never=[(1, 4)])
    # Canonical order (by evidence): 1-2, 2-3 join; 3-4 would put 4 with 1: refused.
    assert assignment == {1: 1, 2: 1, 3: 1, 4: 4}
    assert [r.reason for r in refused] == ["never-link"]


def test_two_verified_accounts_of_one_source_never_merge_without_a_person() -> None:
    verified = {1: "shopify", 2: "shopify", 3: "taobao"}
    assignment, refused = resolve_components(
        [1, 2, 3], [_edge(1, 3), _edge(2, 3)], verified=verified, never=[])
    assert assignment[1] == assignment[3] != assignment[2]
    assert refused[0].reason == "verified-conflict"
    manual, _ = resolve_components([1, 2, 3], [_edge(1, 3), _edge(1, 2, "manual")],
                                   verified=verified, never=[])
    assert set(manual.values()) == {1}


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 30), st.integers(1, 30)), max_size=60),
       st.randoms(use_true_random=False))
def test_components_do_not_depend_on_edge_order(pairs: list[tuple[int, int]],
                                               rng: random.Random) -> None:
    edges = [_edge(min(a, b), max(a, b)) for a, b in pairs if a != b]
    ids = list(range(1, 31))
    first, _ = resolve_components(ids, edges, verified={}, never=[(1, 2)])
    shuffled = list(edges)
    rng.shuffle(shuffled)
    second, _ = resolve_components(ids, shuffled, verified={}, never=[(1, 2)])
    assert first == second
    assert all(root <= member for member, root in first.items())


def test_pairwise_scores_hand_computed() -> None:
    truth = {1: "p", 2: "p", 3: "p", 4: "q", 5: "q"}
    predicted = {1: 1, 2: 1, 3: 3, 4: 3, 5: 5}
    scores = pairwise_scores(predicted, truth)
    # true pairs: 3 (p) + 1 (q); predicted pairs: (1,2), (3,4); correct: (1,2)
    assert (scores.true_pairs, scores.predicted_pairs, scores.correct_pairs) == (4, 2, 1)
    assert scores.precision == 0.5 and scores.recall == 0.25
