"""shopcrm's own simple formats: the product catalogue and behaviour events.

Events use the same field names as the tracking API, so a JSON-lines dump of
front-end or back-end tracking imports as it is.
"""

from __future__ import annotations

from shopcrm.ingest.formats.base import FormatSpec, Grain

PRODUCTS = FormatSpec(
    name="products",
    title="Product catalogue (SKU, title, category, brand, launch date, list price)",
    source="catalogue",
    grain=Grain.PRODUCTS,
    file_kinds=("csv", "xlsx"),
    columns={
        "sku": ("商家编码", "sku", "SKU", "货号", "SKU编码"),
        "title": ("商品名称", "title", "name", "标题"),
        "category": ("类目", "category", "品类", "分类"),
        "brand": ("品牌", "brand"),
        "launched_on": ("上新日期", "launched_on", "launch_date", "上架时间", "上市日期"),
        "list_price": ("吊牌价", "list_price", "price", "原价", "标价"),
    },
    required=frozenset({"sku"}),
)

EVENTS = FormatSpec(
    name="events",
    title="Behaviour events (JSON lines or CSV; the tracking API's fields)",
    source="own",
    grain=Grain.EVENTS,
    file_kinds=("jsonl", "csv"),
    columns={
        "event_id": ("event_id", "id", "事件ID"),
        "event_type": ("event_type", "type", "event", "事件类型", "行为类型"),
        "occurred_at": ("occurred_at", "timestamp", "ts", "time", "发生时间", "时间"),
        "source": ("source", "channel", "渠道"),
        "buyer_id": ("buyer_id", "user_id", "customer_id", "用户ID", "会员名"),
        "email": ("email",),
        "phone": ("phone", "手机"),
        "device_id": ("device_id", "anonymous_id", "cookie_id", "设备ID"),
        "sku": ("sku", "商家编码"),
        "product_id": ("product_id", "item_id", "商品ID"),
        "category": ("category", "类目"),
        "query": ("query", "keyword", "search", "搜索词"),
        "order_id": ("order_id", "订单号"),
        "value": ("value", "amount", "金额"),
    },
    required=frozenset({"event_type", "occurred_at"}),
)
