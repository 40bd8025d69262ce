"""A store's day of sales, and the one Xero invoice that books it.

The invoice has one line per VAT rate (net amount, `LineAmountTypes: Exclusive`), on the sales account, with the
UK tax type of that rate. Each line also carries the till's own VAT as `TaxAmount`: Xero would otherwise
recompute it from the net total and could land a penny away from the receipts the VAT return is built on.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from .outcomes import NothingSold, Refused

PENNY = Decimal("0.01")
ZERO = Decimal("0.00")
UK_TAX_TYPES: Mapping[Decimal, str] = {Decimal("20"): "OUTPUT2", Decimal("0"): "ZERORATEDOUTPUT"}
"""Xero UK: OUTPUT2 is 20 % VAT on income, ZERORATEDOUTPUT 0 %."""
SALES_ACCOUNT = "200"


@dataclass(frozen=True, slots=True)
class VatTotal:
    """The day's sales at one VAT rate (percent), as the till summed them."""

    rate: Decimal
    net: Decimal
    tax: Decimal


@dataclass(frozen=True, slots=True)
class DaySales:
    store_id: str
    day: date
    currency: str
    sales_count: int
    by_vat_rate: tuple[VatTotal, ...]


@dataclass(frozen=True, slots=True)
class InvoiceRules:
    """Where the day is booked: the sales account and the tax type of each VAT rate."""

    account_code: str = SALES_ACCOUNT
    tax_types: Mapping[Decimal, str] | None = None

    def tax_type(self, rate: Decimal) -> str | None:
        return (self.tax_types if self.tax_types is not None else UK_TAX_TYPES).get(rate.normalize())


@dataclass(frozen=True, slots=True)
class InvoiceLine:
    description: str
    amount: Decimal
    tax: Decimal
    tax_type: str


@dataclass(frozen=True, slots=True)
class Invoice:
    store_id: str
    store_name: str
    day: date
    currency: str
    account_code: str
    lines: tuple[InvoiceLine, ...]

    @property
    def reference(self) -> str:
        return f"{self.store_id} {self.day.isoformat()}"

    @property
    def contact_name(self) -> str:
        """One contact per store; Xero creates it the first time the name is used."""
        return f"Cloud POS sales – {self.store_name}"

    @property
    def total(self) -> Decimal:
        return sum((line.amount + line.tax for line in self.lines), ZERO)

    def xero_body(self) -> dict:
        """`PUT /api.xro/2.0/Invoices` body: an authorised sales invoice, due the day it was paid at the till."""
        day = self.day.isoformat()
        return {"Invoices": [{
            "Type": "ACCREC", "Contact": {"Name": self.contact_name}, "Date": day, "DueDate": day,
            "Reference": self.reference, "CurrencyCode": self.currency, "LineAmountTypes": "Exclusive",
            "Status": "AUTHORISED",
            "LineItems": [{"Description": line.description, "Quantity": 1, "UnitAmount": float(line.amount),
                           "TaxAmount": float(line.tax), "AccountCode": self.account_code,
                           "TaxType": line.tax_type} for line in self.lines]}]}


def pennies(amount: Decimal) -> Decimal:
    return amount.quantize(PENNY, ROUND_HALF_UP)


def rate_text(rate: Decimal) -> str:
    return f"{rate.normalize():f}"


def build_invoice(sales: DaySales, store_name: str, rules: InvoiceRules = InvoiceRules()
                  ) -> Invoice | NothingSold | Refused:
    """One line per VAT rate (highest rate first), amounts rounded half-up to pennies; zero lines left out.
    Refused when a person must decide: a VAT rate with no tax type, or refunds over sales (a credit note)."""
    lines = []
    for total in sorted(sales.by_vat_rate, key=lambda t: t.rate, reverse=True):
        net, tax = pennies(total.net), pennies(total.tax)
        if net == 0 and tax == 0:
            continue
        tax_type = rules.tax_type(total.rate)
        if tax_type is None:
            return Refused(f"no Xero tax type is configured for {rate_text(total.rate)}% VAT")
        lines.append(InvoiceLine(f"Sales at {rate_text(total.rate)}% VAT, {sales.day:%d %b %Y}", net, tax,
                                 tax_type))
    if sales.sales_count == 0 or not lines:
        return NothingSold()
    invoice = Invoice(sales.store_id, store_name, sales.day, sales.currency, rules.account_code, tuple(lines))
    if invoice.total < 0:
        return Refused(f"refunds exceed sales ({invoice.total} {sales.currency}): book a credit note by hand")
    return invoice
