"""The demo generator's ground truth joined to what the importers made of it, so
identity resolution can be scored against who really is who."""

from __future__ import annotations

import csv
from pathlib import Path

from sqlalchemy import select

from shopcrm.context import AppContext
from shopcrm.identity.quality import PairwiseScores, pairwise_scores
from shopcrm.store.models import SourceIdentity


def truth_by_identity(context: AppContext, ground_truth: Path) -> dict[int, str]:
    """Identity ID → person ID for every account, Shopify customer and receiver
    (Pinduoduo receivers through their orders)."""
    with context.sessions() as session:
        rows = session.execute(select(SourceIdentity.id, SourceIdentity.source,
                                      SourceIdentity.external_id,
                                      SourceIdentity.attributes)).all()
    by_key = {(r.source, r.external_id): r.id for r in rows}
    shopify = {str((r.attributes or {}).get("customer_id")): r.id for r in rows
               if r.source == "shopify" and r.attributes}
    orders = context.warehouse.table("orders")
    pdd = context.warehouse.execute(
        orders.filter(orders.source == "pdd").select("order_id", "identity_id"))
    by_order = dict(zip(pdd.column("order_id").to_pylist(),
                        pdd.column("identity_id").to_pylist(), strict=True))
    truth: dict[int, str] = {}
    with open(ground_truth, encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            source, kind, key, person = (row["source"], row["record_type"], row["record_key"],
                                         row["person_id"])
            identity = None
            if kind == "account":
                identity = by_key.get((source, key))
            elif kind == "customer":
                identity = shopify.get(key)
            elif kind == "order" and source == "pdd":
                identity = by_order.get(key)
            if identity is not None:
                truth[int(identity)] = person
    return truth


def score_demo_resolution(context: AppContext, ground_truth: Path) -> PairwiseScores:
    """Pairwise precision/recall of the current customer IDs against the truth."""
    truth = truth_by_identity(context, ground_truth)
    with context.sessions() as session:
        predicted = dict(session.execute(
            select(SourceIdentity.id, SourceIdentity.customer_id)).all())
    return pairwise_scores(predicted, truth)
