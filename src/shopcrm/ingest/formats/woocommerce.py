"""WooCommerce order exports (the built-in CSV exporter and common export plugins):
one row per line item, order fields repeated on every row."""

from __future__ import annotations

from shopcrm.ingest.formats.base import FormatSpec, Grain

WOO_STATUS = {
    "completed": "completed",
    "wc-completed": "completed",
    "processing": "paid",
    "wc-processing": "paid",
    "on-hold": "pending",
    "wc-on-hold": "pending",
    "pending": "pending",
    "wc-pending": "pending",
    "pendingpayment": "pending",
    "cancelled": "cancelled",
    "wc-cancelled": "cancelled",
    "failed": "cancelled",
    "wc-failed": "cancelled",
    "refunded": "refunded",
    "wc-refunded": "refunded",
    "checkout-draft": "pending",
}

WOOCOMMERCE_ORDERS = FormatSpec(
    name="woocommerce-orders",
    title="WooCommerce orders CSV (one row per line item)",
    source="woocommerce",
    grain=Grain.LINES,
    address_mode="parts",
    columns={
        "order_id": ("Order ID", "Order Number", "order_id", "Order #"),
        "status": ("Order Status", "Status", "status"),
        "created_at": ("Order Date", "Date Created", "order_date", "Date"),
        "paid_at": ("Paid Date", "Date Paid", "paid_date"),
        "completed_at": ("Completed Date", "Date Completed", "completed_date"),
        "currency": ("Order Currency", "Currency", "currency"),
        "goods_amount": ("Order Subtotal Amount", "Order Subtotal", "Subtotal"),
        "shipping_fee": ("Order Shipping Amount", "Shipping Total", "Shipping"),
        "discount_amount": ("Cart Discount Amount", "Discount Total", "Discount Amount"),
        "paid_amount": ("Order Total Amount", "Order Total", "Total", "order_total"),
        "refund_amount": ("Order Refund Amount", "Refund Amount", "Refunded"),
        "buyer_id": ("Customer User ID", "Customer ID", "customer_id"),
        "email": ("Billing Email Address", "Billing Email", "Customer Email", "billing_email"),
        "first_name": ("Billing First Name", "billing_first_name"),
        "last_name": ("Billing Last Name", "billing_last_name"),
        "phone": ("Billing Phone", "billing_phone"),
        "street": ("Billing Address 1", "Billing Address 1&2", "billing_address_1"),
        "city": ("Billing City", "billing_city"),
        "province": ("Billing State", "billing_state"),
        "postcode": ("Billing Postcode", "billing_postcode"),
        "country": ("Billing Country", "billing_country"),
        "title": ("Item Name", "Product Name", "item_name"),
        "sku": ("SKU", "Item SKU", "sku"),
        "product_id": ("Product ID", "Item ID", "product_id"),
        "quantity": ("Quantity", "Quantity (- Refund)", "Item Quantity", "qty"),
        "unit_price": ("Item Cost", "Item Price", "Cost", "item_price"),
        "line_amount": ("Item Total", "Line Total", "Order Line Total", "item_total"),
        "promo_type": ("Coupon Code", "Coupons", "coupon_code"),
    },
    required=frozenset({"order_id", "status", "created_at", "paid_amount"}),
    status_map=WOO_STATUS,
    identity_sql=(
        "CASE WHEN buyer_id IS NOT NULL AND buyer_id NOT IN ('0', '') THEN 'user:' || buyer_id "
        "WHEN email LIKE '%_@_%' THEN 'email:' || lower(email) END"
    ),
    description="WooCommerce → Orders → Export (CSV).",
)
