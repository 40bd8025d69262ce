"""A store's day of sales: seeded per (store, date), so tests and demos get the same figures every run, plus
the sales a test adds. No HTTP here.

Money is `Decimal`, each line rounded half-up to pennies the way a till prints its receipt; the day's summary
adds those rounded lines up (per VAT rate and per payment method), so it always equals the receipts' sum.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

PENNY = Decimal("0.01")
CURRENCY = "GBP"
VAT_RATES = (Decimal("20"), Decimal("5"), Decimal("0"))
"""UK standard, reduced and zero rates; the seeded days use 20 % and 0 % only."""
PAYMENT_METHODS = ("card", "cash")
OPENING_MINUTES = range(9 * 60, 17 * 60 + 30)

# A bike shop's counter: (description, unit price, price includes VAT, VAT rate %). Children's helmets and
# books are zero-rated in the UK; workshop labour is priced excluding VAT, like a trade price list.
CATALOGUE: tuple[tuple[str, str, bool, str], ...] = (
    ("Inner tube 700x25c", "6.99", True, "20"),
    ("Chain lube 100 ml", "8.50", True, "20"),
    ("Puncture repair kit", "4.99", True, "20"),
    ("LED light set", "29.99", True, "20"),
    ("Bike service - standard", "45.00", True, "20"),
    ("Workshop labour (per hour)", "40.00", False, "20"),
    ("Children's cycle helmet", "24.99", True, "0"),
    ("Cycle maintenance manual (book)", "12.99", True, "0"),
)


@dataclass(frozen=True, slots=True)
class Line:
    description: str
    quantity: int
    unit_price: Decimal
    price_includes_vat: bool
    vat_rate: Decimal

    def amounts(self) -> tuple[Decimal, Decimal, Decimal]:
        """(net, tax, gross) of the line, each in pennies; net + tax == gross exactly."""
        total = (self.unit_price * self.quantity).quantize(PENNY, ROUND_HALF_UP)
        factor = self.vat_rate / 100
        if self.price_includes_vat:
            net = (total / (1 + factor)).quantize(PENNY, ROUND_HALF_UP)
            return net, total - net, total
        tax = (total * factor).quantize(PENNY, ROUND_HALF_UP)
        return total, tax, total + tax


@dataclass(frozen=True, slots=True)
class Sale:
    sale_id: str
    time: str
    """Local time of day at the store, HH:MM."""
    payment_method: str
    lines: tuple[Line, ...]


def seeded_day(store_id: str, day: date, closed_weekdays: Iterable[int] = ()) -> list[Sale]:
    """Three to eight sales in opening hours; none on a day the store is closed (`date.weekday()` numbers)."""
    if day.weekday() in set(closed_weekdays):
        return []
    seed = int.from_bytes(hashlib.sha256(f"{store_id}:{day.isoformat()}".encode()).digest()[:8], "big")
    rng = random.Random(seed)
    minutes = sorted(rng.sample(OPENING_MINUTES, rng.randint(3, 8)))
    return [Sale(sale_id(store_id, day, n), f"{m // 60:02d}:{m % 60:02d}", rng.choice(PAYMENT_METHODS),
                 tuple(_seeded_line(rng) for _ in range(rng.randint(1, 3))))
            for n, m in enumerate(minutes, start=1)]


def _seeded_line(rng: random.Random) -> Line:
    description, price, includes_vat, rate = rng.choice(CATALOGUE)
    return Line(description, rng.choice((1, 1, 1, 2, 3)), Decimal(price), includes_vat, Decimal(rate))


def sale_id(store_id: str, day: date, number: int) -> str:
    return f"{store_id}-{day:%Y%m%d}-{number:03d}"


def money(amount: Decimal) -> str:
    """Amounts travel as decimal strings with two places ("12.30"), never as binary floats."""
    return str(amount.quantize(PENNY, ROUND_HALF_UP))


def rate_text(rate: Decimal) -> str:
    """"20", "5", "0", "17.5": the VAT rate as a percentage without trailing zeros."""
    return f"{rate.normalize():f}"


def _totals(lines: Iterable[Line]) -> dict[str, str]:
    net = tax = gross = Decimal("0.00")
    for line in lines:
        n, t, g = line.amounts()
        net, tax, gross = net + n, tax + t, gross + g
    return {"net": money(net), "tax": money(tax), "gross": money(gross)}


def sale_json(sale: Sale) -> dict:
    lines = []
    for line in sale.lines:
        net, tax, gross = line.amounts()
        lines.append({"description": line.description, "quantity": line.quantity,
                      "unit_price": money(line.unit_price), "price_includes_vat": line.price_includes_vat,
                      "vat_rate": rate_text(line.vat_rate), "net": money(net), "tax": money(tax),
                      "gross": money(gross)})
    return {"sale_id": sale.sale_id, "time": sale.time, "payment_method": sale.payment_method, "lines": lines,
            "totals": _totals(sale.lines)}


def summary_json(sales: list[Sale]) -> dict:
    """The day's totals, per VAT rate (highest first) and per payment method (card, then cash)."""
    all_lines = [line for sale in sales for line in sale.lines]
    rates = sorted({line.vat_rate for line in all_lines}, reverse=True)
    by_rate = [{"vat_rate": rate_text(rate), **_totals(l for l in all_lines if l.vat_rate == rate)}
               for rate in rates]
    by_method = []
    for method in PAYMENT_METHODS:
        paid = [sale for sale in sales if sale.payment_method == method]
        if paid:
            by_method.append({"payment_method": method, "sales_count": len(paid),
                              **_totals(line for sale in paid for line in sale.lines)})
    return {"sales_count": len(sales), "totals": _totals(all_lines), "by_vat_rate": by_rate,
            "by_payment_method": by_method}


def day_json(store_id: str, merchant_id: str, day: date, sales: list[Sale]) -> dict:
    return {"store_id": store_id, "merchant_id": merchant_id, "date": day.isoformat(), "currency": CURRENCY,
            "sales": [sale_json(sale) for sale in sales], "summary": summary_json(sales)}
