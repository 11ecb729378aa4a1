"""Quote pricing for the platform's sales modules, in Python, as a WebAssembly component.

POST /quote with {"items": [{"sku": "A-1", "qty": 2, "unit_price": "19.90"}],
"customer": {"tier": "gold"}, "coupon": "WELCOME10"} answers the validated quote: line
totals, the tier discount, the coupon, tax, and the total, all in exact decimals.
GET / is the health check. Built with `sandbench build examples/modules/pricing-py`.
"""

from __future__ import annotations

import json
import re
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

from sandbench_guest import Request, Response, log

TIER_DISCOUNT = {"standard": Decimal("0"), "silver": Decimal("0.05"), "gold": Decimal("0.10")}
COUPONS = {"WELCOME10": Decimal("10.00"), "FREESHIP": Decimal("7.50")}
TAX_RATE = Decimal("0.21")
CENT = Decimal("0.01")
SKU = re.compile(r"^[A-Z]{1,4}-\d{1,6}$")
MAX_ITEMS = 200


class Invalid(ValueError):
    """A request field is wrong; the message names it."""


def _money(value: object, field: str) -> Decimal:
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise Invalid(f"{field}: expected a decimal amount such as 19.90") from None
    if not amount.is_finite() or amount < 0 or amount > Decimal("1000000"):
        raise Invalid(f"{field}: expected an amount from 0 to 1000000")
    return amount


def _line(index: int, item: object) -> dict[str, str | int]:
    where = f"items[{index}]"
    if not isinstance(item, dict):
        raise Invalid(f"{where}: expected an object with sku, qty and unit_price")
    sku = item.get("sku")
    if not isinstance(sku, str) or not SKU.match(sku):
        raise Invalid(f"{where}.sku: expected a SKU such as A-1")
    qty = item.get("qty")
    if not isinstance(qty, int) or isinstance(qty, bool) or not 1 <= qty <= 10_000:
        raise Invalid(f"{where}.qty: expected a whole number from 1 to 10000")
    price = _money(item.get("unit_price"), f"{where}.unit_price")
    total = (price * qty).quantize(CENT, ROUND_HALF_EVEN)
    return {"sku": sku, "qty": qty, "unit_price": str(price), "total": str(total)}


def quote(order: object) -> dict[str, object]:
    """The priced quote of an order, or `Invalid`."""
    if not isinstance(order, dict):
        raise Invalid("body: expected a JSON object")
    items = order.get("items")
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_ITEMS:
        raise Invalid(f"items: expected a list of 1 to {MAX_ITEMS} items")
    lines = [_line(i, item) for i, item in enumerate(items)]
    subtotal = sum((Decimal(str(line["total"])) for line in lines), Decimal(0))
    tier = (order.get("customer") or {}).get("tier", "standard")
    if tier not in TIER_DISCOUNT:
        raise Invalid(f"customer.tier: expected one of {', '.join(TIER_DISCOUNT)}")
    discount = (subtotal * TIER_DISCOUNT[tier]).quantize(CENT, ROUND_HALF_EVEN)
    coupon = order.get("coupon")
    if coupon is not None and coupon not in COUPONS:
        raise Invalid(f"coupon: unknown coupon {coupon!r}")
    off = min(COUPONS.get(coupon or "", Decimal(0)), subtotal - discount)
    taxable = subtotal - discount - off
    tax = (taxable * TAX_RATE).quantize(CENT, ROUND_HALF_EVEN)
    return {
        "lines": lines,
        "subtotal": str(subtotal),
        "discount": str(discount),
        "coupon": str(off),
        "tax": str(tax),
        "total": str(taxable + tax),
    }


def handle(request: Request) -> Response:
    if request.method == "GET" and request.path in ("/", "/health"):
        return Response.json({"status": "ok", "service": "pricing"})
    if request.path != "/quote":
        return Response.json({"error": f"no route {request.path}"}, status=404)
    if request.method != "POST":
        return Response.json({"error": "use POST"}, status=405)
    try:
        result = quote(request.json())
    except json.JSONDecodeError as exc:
        return Response.json({"error": f"body: not JSON ({exc.msg})"}, status=400)
    except Invalid as exc:
        log("info", f"rejected quote: {exc}")
        return Response.json({"error": str(exc)}, status=422)
    log("debug", f"quoted {len(result['lines'])} line(s), total {result['total']}")
    return Response.json(result)
