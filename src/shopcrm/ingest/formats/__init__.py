"""The registry of import formats, by name."""

from __future__ import annotations

from shopcrm.ingest.formats.base import FormatSpec, Grain
from shopcrm.ingest.formats.catalogue import EVENTS, PRODUCTS
from shopcrm.ingest.formats.jd import JD_ORDERS
from shopcrm.ingest.formats.pdd import PDD_ORDERS
from shopcrm.ingest.formats.shopify import SHOPIFY_CUSTOMERS, SHOPIFY_ORDERS
from shopcrm.ingest.formats.taobao import TAOBAO_ITEMS, TAOBAO_ORDERS
from shopcrm.ingest.formats.woocommerce import WOOCOMMERCE_ORDERS

FORMATS: dict[str, FormatSpec] = {
    spec.name: spec
    for spec in (
        TAOBAO_ORDERS,
        TAOBAO_ITEMS,
        JD_ORDERS,
        PDD_ORDERS,
        SHOPIFY_ORDERS,
        SHOPIFY_CUSTOMERS,
        WOOCOMMERCE_ORDERS,
        PRODUCTS,
        EVENTS,
    )
}


def get_format(name: str) -> FormatSpec:
    try:
        return FORMATS[name]
    except KeyError:
        known = ", ".join(sorted([*FORMATS, "generic"]))
        raise KeyError(f"unknown format {name!r}; known formats: {known}") from None


__all__ = ["FORMATS", "FormatSpec", "Grain", "get_format"]
