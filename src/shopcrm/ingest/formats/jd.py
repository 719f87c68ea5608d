"""JD POP (京东商家) order export: one row per SKU, order fields repeated on each row."""

from __future__ import annotations

from shopcrm.ingest.formats.base import FormatSpec, Grain

JD_STATUS = {
    "完成": "completed",
    "已完成": "completed",
    "已取消": "cancelled",
    "取消": "cancelled",
    "(删除)锁定": "cancelled",
    "(删除)": "cancelled",
    "锁定": "cancelled",
    "等待出库": "paid",
    "正在出库": "paid",
    "暂停": "paid",
    "等待发货": "paid",
    "等待确认收货": "shipped",
    "已发货": "shipped",
    "配送退货": "refunded",
    "退款成功": "refunded",
    "等待付款": "pending",
    "等待付款确认": "pending",
}

JD_ORDERS = FormatSpec(
    name="jd-orders",
    title="JD POP order export (one row per SKU)",
    source="jd",
    grain=Grain.LINES,
    columns={
        "order_id": ("订单号", "订单编号"),
        "product_id": ("商品ID", "商品编号"),
        "title": ("商品名称",),
        "quantity": ("订购数量", "数量", "商品数量"),
        "unit_price": ("京东价", "单价", "商品单价"),
        "goods_amount": ("订单金额",),
        "paid_amount": ("应付金额", "结算金额", "实付金额"),
        "shipping_fee": ("运费金额", "运费"),
        "discount_amount": ("优惠金额", "订单优惠"),
        "status": ("订单状态",),
        "promo_type": ("订单类型",),
        "buyer_id": ("下单帐号", "下单账号", "客户账号", "用户账号"),
        "name": ("客户姓名", "收货人姓名", "收货人"),
        "address": ("客户地址", "收货地址"),
        "phone": ("联系电话", "手机", "联系手机"),
        "created_at": ("下单时间", "订单创建时间"),
        "paid_at": ("付款确认时间", "支付时间", "付款时间"),
        "completed_at": ("订单完成时间", "完成时间"),
        "sku": ("商家SKUID", "商家SKU", "货号", "商家编码"),
        "store_name": ("店铺名称",),
    },
    required=frozenset({"order_id", "paid_amount", "status", "created_at", "title"}),
    status_map=JD_STATUS,
    description="京东商家后台 → 订单管理 → 订单导出; GBK CSV.",
)
