"""The canonical fields every importer maps its columns onto, and their value kinds.

A format is mostly a table of aliases from its export's headers to these names;
the kind decides how a value is cleaned and what makes it invalid.
"""

from __future__ import annotations

from enum import StrEnum


class Kind(StrEnum):
    TEXT = "text"
    ID = "id"
    MONEY = "money"
    INT = "int"
    DATETIME = "datetime"
    DATE = "date"
    BOOL = "bool"
    STATUS = "status"


FIELD_KINDS: dict[str, Kind] = {
    # order
    "order_id": Kind.ID,
    "status": Kind.STATUS,
    "refund_status": Kind.TEXT,
    "created_at": Kind.DATETIME,
    "paid_at": Kind.DATETIME,
    "completed_at": Kind.DATETIME,
    "cancelled_at": Kind.DATETIME,
    "currency": Kind.TEXT,
    "goods_amount": Kind.MONEY,
    "shipping_fee": Kind.MONEY,
    "discount_amount": Kind.MONEY,
    "paid_amount": Kind.MONEY,
    "refund_amount": Kind.MONEY,
    "item_count": Kind.INT,
    "store_name": Kind.TEXT,
    "promo_type": Kind.TEXT,
    # buyer and receiver (personal data: goes to the operational store only)
    "buyer_id": Kind.ID,
    "email": Kind.TEXT,
    "name": Kind.TEXT,
    "first_name": Kind.TEXT,
    "last_name": Kind.TEXT,
    "phone": Kind.TEXT,
    "phone2": Kind.TEXT,
    "address": Kind.TEXT,
    "province": Kind.TEXT,
    "city": Kind.TEXT,
    "district": Kind.TEXT,
    "street": Kind.TEXT,
    "postcode": Kind.TEXT,
    "country": Kind.TEXT,
    "gender": Kind.TEXT,
    "birthday": Kind.DATE,
    "accepts_email": Kind.BOOL,
    "accepts_sms": Kind.BOOL,
    "tags": Kind.TEXT,
    "customer_id": Kind.ID,
    # order line
    "sku": Kind.ID,
    "product_id": Kind.ID,
    "title": Kind.TEXT,
    "quantity": Kind.INT,
    "unit_price": Kind.MONEY,
    "line_amount": Kind.MONEY,
    "line_refund_amount": Kind.MONEY,
    # behaviour event
    "event_id": Kind.ID,
    "event_type": Kind.TEXT,
    "occurred_at": Kind.DATETIME,
    "source": Kind.TEXT,
    "device_id": Kind.ID,
    "category": Kind.TEXT,
    "query": Kind.TEXT,
    "value": Kind.MONEY,
    # product catalogue
    "brand": Kind.TEXT,
    "launched_on": Kind.DATE,
    "list_price": Kind.MONEY,
}

EVENT_TYPES = frozenset(
    {"view", "click", "favourite", "add_to_cart", "remove_from_cart", "search", "purchase",
     "checkout", "share", "login", "signup"}
)
EVENT_TYPE_ALIASES = {
    "favorite": "favourite",
    "fav": "favourite",
    "collect": "favourite",
    "cart": "add_to_cart",
    "addtocart": "add_to_cart",
    "add-to-cart": "add_to_cart",
    "pv": "view",
    "page_view": "view",
    "pageview": "view",
    "buy": "purchase",
    "order": "purchase",
    "浏览": "view",
    "点击": "click",
    "收藏": "favourite",
    "加购": "add_to_cart",
    "搜索": "search",
    "购买": "purchase",
}

ORDER_STATUSES = ("pending", "paid", "shipped", "completed", "cancelled", "refunded")
