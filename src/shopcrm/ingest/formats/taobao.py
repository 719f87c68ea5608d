"""Taobao / Tmall seller-centre exports (订单报表 and 宝贝报表).

Headers drift between export versions and tools (买家实际支付金额 / 买家实付金额,
订单付款时间 / 买家付款时间, trailing spaces): every field lists the names seen.
"""

from __future__ import annotations

from shopcrm.ingest.formats.base import FormatSpec, Grain

TAOBAO_STATUS = {
    "交易成功": "completed",
    "交易完成": "completed",
    "交易关闭": "cancelled",
    "交易关闭(退款)": "refunded",
    "卖家已发货，等待买家确认": "shipped",
    "卖家已发货,等待买家确认": "shipped",
    "卖家已发货": "shipped",
    "卖家部分发货": "shipped",
    "部分发货": "shipped",
    "买家已付款，等待卖家发货": "paid",
    "买家已付款": "paid",
    "等待卖家发货": "paid",
    "等待卖家发货,即:买家已付款": "paid",
    "付款以后用户退款成功，交易自动关闭": "refunded",
    "等待买家付款": "pending",
    "买家未付款": "pending",
    "没有创建支付宝交易": "pending",
    "交易被淘宝关闭": "cancelled",
    "已收货": "completed",
}

TAOBAO_ORDERS = FormatSpec(
    name="taobao-orders",
    title="Taobao/Tmall order export (one row per order)",
    source="taobao",
    grain=Grain.ORDERS,
    columns={
        "order_id": ("订单编号", "订单号", "主订单编号", "订单ID"),
        "buyer_id": ("买家会员名", "买家昵称", "买家账号", "买家ID", "会员名"),
        "goods_amount": ("买家应付货款", "商品总价", "应付货款", "宝贝总价"),
        "shipping_fee": ("买家应付邮费", "邮费", "运费"),
        "paid_amount": ("买家实际支付金额", "买家实付金额", "实付金额", "实际支付金额", "总金额"),
        "refund_amount": ("退款金额", "已退款金额"),
        "discount_amount": ("店铺优惠", "优惠金额", "订单优惠"),
        "status": ("订单状态", "交易状态"),
        "name": ("收货人姓名", "收货人", "收件人"),
        "address": ("收货地址", "收货人地址", "详细地址"),
        "phone": ("联系手机", "手机", "收货人手机", "手机号"),
        "phone2": ("联系电话", "电话", "固定电话"),
        "created_at": ("订单创建时间", "创建时间", "下单时间", "拍下时间"),
        "paid_at": ("订单付款时间", "买家付款时间", "付款时间", "支付时间"),
        "completed_at": ("确认收货时间", "交易成功时间", "交易完成时间"),
        "item_count": ("宝贝总数量", "商品数量", "宝贝数量"),
        "store_name": ("店铺名称", "店铺"),
        "promo_type": ("活动类型", "营销活动", "订单类型"),
    },
    required=frozenset({"order_id", "buyer_id", "paid_amount", "status", "created_at"}),
    status_map=TAOBAO_STATUS,
    description="订单报表 from 卖家中心 → 已卖出的宝贝 → 批量导出; GB18030 or UTF-8.",
)

TAOBAO_ITEMS = FormatSpec(
    name="taobao-items",
    title="Taobao/Tmall item export (one row per order line)",
    source="taobao",
    grain=Grain.ITEMS,
    columns={
        "order_id": ("订单编号", "订单号", "主订单编号"),
        "title": ("标题", "宝贝标题", "商品标题", "商品名称"),
        "unit_price": ("价格", "单价", "商品价格"),
        "quantity": ("购买数量", "数量", "宝贝数量"),
        "sku": ("商家编码", "外部系统编号", "商家货号", "SKU编码", "商品编码"),
        "product_id": ("商品ID", "宝贝ID", "商品id"),
        "status": ("订单状态", "交易状态"),
        "line_refund_amount": ("退款金额",),
        "line_amount": ("商品小计", "小计", "实付金额"),
    },
    required=frozenset({"order_id", "title", "unit_price", "quantity"}),
    status_map=TAOBAO_STATUS,
    description="宝贝报表 exported next to the order report; lines join orders by 订单编号.",
)
