"""Pinduoduo (拼多多商家后台) order export: xlsx or csv, one row per order and SKU.

Pinduoduo exposes no buyer ID: the identity is the receiver (name, phone, address),
and phones are usually masked or virtual numbers.
"""

from __future__ import annotations

from shopcrm.ingest.formats.base import FormatSpec, Grain

PDD_STATUS = {
    "待发货": "paid",
    "已发货，待签收": "shipped",
    "已发货,待签收": "shipped",
    "已发货": "shipped",
    "已签收": "completed",
    "交易成功": "completed",
    "已取消": "cancelled",
    "已取消，未支付": "cancelled",
    "交易关闭": "cancelled",
    "未发货，退款成功": "refunded",
    "已发货，退款成功": "refunded",
    "退款成功": "refunded",
    "待支付": "pending",
    "未支付": "pending",
    "待成团": "paid",
}

PDD_ORDERS = FormatSpec(
    name="pdd-orders",
    title="Pinduoduo order export (xlsx or csv, one row per order)",
    source="pdd",
    grain=Grain.ORDERS,
    file_kinds=("xlsx", "csv"),
    address_mode="parts",
    columns={
        "order_id": ("订单号", "订单编号"),
        "title": ("商品", "商品名称", "商品标题"),
        "status": ("订单状态",),
        "refund_status": ("售后状态",),
        "goods_amount": ("商品总价(元)", "商品总价"),
        "discount_amount": ("店铺优惠折扣(元)", "店铺优惠"),
        "shipping_fee": ("邮费(元)", "邮费"),
        "paid_amount": ("用户实付金额(元)", "用户实付金额", "实付金额"),
        "quantity": ("商品数量(件)", "商品数量", "数量"),
        "name": ("收货人", "收货人姓名"),
        "phone": ("手机", "收货人手机", "联系电话"),
        "province": ("省", "省份"),
        "city": ("市", "城市"),
        "district": ("区", "区县"),
        "street": ("街道", "详细地址"),
        "paid_at": ("支付时间", "付款时间"),
        "created_at": ("订单创建时间", "拼单成功时间", "创建时间"),
        "completed_at": ("确认收货时间",),
        "product_id": ("商品id", "商品ID"),
        "sku": ("商家编码-SKU维度", "商家编码-商品维度", "商家编码", "样式ID"),
        "store_name": ("店铺名称",),
    },
    required=frozenset({"order_id", "paid_amount", "status", "created_at"}),
    status_map=PDD_STATUS,
    refund_sql=(
        "CASE WHEN refund_status LIKE '%退款成功%' THEN paid_amount ELSE NULL END"
    ),
    description="拼多多商家后台 → 订单查询 → 导出; xlsx (or csv).",
)
