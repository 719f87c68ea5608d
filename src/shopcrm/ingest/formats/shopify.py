"""Shopify admin exports: orders (one row per line item) and customers.

In the orders CSV only the first row of an order carries the order fields; the
rest repeat just ``Name`` and the line item. Customers are keyed by e-mail when
they have one (that is what Shopify itself treats as unique), else by ID.
"""

from __future__ import annotations

from shopcrm.ingest.formats.base import FormatSpec, Grain

SHOPIFY_ORDERS = FormatSpec(
    name="shopify-orders",
    title="Shopify orders CSV (one row per line item)",
    source="shopify",
    grain=Grain.LINES,
    address_mode="parts",
    columns={
        "order_id": ("Name", "Order Name", "Order Number"),
        "email": ("Email",),
        "status": ("Financial Status",),
        "refund_status": ("Fulfillment Status",),
        "paid_at": ("Paid at",),
        "completed_at": ("Fulfilled at",),
        "cancelled_at": ("Cancelled at",),
        "currency": ("Currency",),
        "goods_amount": ("Subtotal",),
        "shipping_fee": ("Shipping",),
        "paid_amount": ("Total",),
        "discount_amount": ("Discount Amount",),
        "refund_amount": ("Refunded Amount",),
        "created_at": ("Created at",),
        "quantity": ("Lineitem quantity",),
        "title": ("Lineitem name",),
        "unit_price": ("Lineitem price",),
        "sku": ("Lineitem sku",),
        "name": ("Shipping Name", "Billing Name"),
        "street": ("Shipping Street", "Shipping Address1", "Billing Street"),
        "city": ("Shipping City", "Billing City"),
        "postcode": ("Shipping Zip", "Billing Zip"),
        "province": ("Shipping Province", "Shipping Province Name", "Billing Province"),
        "country": ("Shipping Country", "Billing Country"),
        "phone": ("Phone", "Shipping Phone", "Billing Phone"),
        "phone2": ("Billing Phone",),
        "promo_type": ("Discount Code",),
        "store_name": ("Source",),
    },
    required=frozenset({"order_id", "created_at", "title"}),
    status_sql=(
        "CASE lower(status_raw) "
        "WHEN 'paid' THEN CASE WHEN lower(refund_status) = 'fulfilled' THEN 'completed' "
        "ELSE 'paid' END "
        "WHEN 'partially_paid' THEN 'paid' "
        "WHEN 'partially_refunded' THEN CASE WHEN lower(refund_status) = 'fulfilled' "
        "THEN 'completed' ELSE 'paid' END "
        "WHEN 'refunded' THEN 'refunded' "
        "WHEN 'pending' THEN 'pending' WHEN 'authorized' THEN 'pending' "
        "WHEN 'expired' THEN 'cancelled' WHEN 'voided' THEN 'cancelled' END"
    ),
    description="Shopify admin → Orders → Export (CSV for Excel or plain CSV).",
)

SHOPIFY_CUSTOMERS = FormatSpec(
    name="shopify-customers",
    title="Shopify customers CSV",
    source="shopify",
    grain=Grain.CUSTOMERS,
    address_mode="parts",
    columns={
        "customer_id": ("Customer ID", "ID", "Id"),
        "first_name": ("First Name",),
        "last_name": ("Last Name",),
        "email": ("Email",),
        "accepts_email": ("Accepts Email Marketing", "Accepts Marketing"),
        "accepts_sms": ("Accepts SMS Marketing",),
        "street": ("Default Address Address1", "Address1"),
        "city": ("Default Address City", "City"),
        "province": ("Default Address Province Code", "Province Code", "Province"),
        "country": ("Default Address Country Code", "Country Code", "Country"),
        "postcode": ("Default Address Zip", "Zip"),
        "phone": ("Phone", "Default Address Phone"),
        "phone2": ("Default Address Phone",),
        "tags": ("Tags",),
    },
    required=frozenset({"customer_id"}),
    identity_sql=(
        "CASE WHEN email LIKE '%_@_%' AND strpos(email, '*') = 0 "
        "THEN 'email:' || lower(email) ELSE 'id:' || customer_id END"
    ),
    description="Shopify admin → Customers → Export.",
)
