"""Building the day's invoice from the till's summary: one line per VAT rate, pennies, tax types, refusals."""

from datetime import date
from decimal import Decimal

import pytest

from daily_sales.domain import DaySales, Invoice, InvoiceRules, NothingSold, Refused, VatTotal, build_invoice

DAY = date(2026, 3, 1)


def sales(*totals: tuple[str, str, str], count: int = 4, currency: str = "GBP") -> DaySales:
    return DaySales("s-steve-1", DAY, currency, count,
                    tuple(VatTotal(Decimal(rate), Decimal(net), Decimal(tax)) for rate, net, tax in totals))


def invoice_of(day: DaySales, rules: InvoiceRules = InvoiceRules()) -> Invoice:
    built = build_invoice(day, "Steve Test Store", rules)
    assert isinstance(built, Invoice), built
    return built


def test_one_line_per_vat_rate_with_the_uk_tax_types_highest_rate_first():
    invoice = invoice_of(sales(("0", "51.96", "0.00"), ("20", "195.83", "39.16")))
    assert [(line.tax_type, line.amount, line.tax) for line in invoice.lines] == [
        ("OUTPUT2", Decimal("195.83"), Decimal("39.16")), ("ZERORATEDOUTPUT", Decimal("51.96"), Decimal("0.00"))]
    assert invoice.total == Decimal("286.95")


def test_the_xero_body_is_an_authorised_exclusive_sales_invoice_on_account_200():
    body = invoice_of(sales(("20", "195.83", "39.16"), ("0", "51.96", "0.00"))).xero_body()
    assert body == {"Invoices": [{
        "Type": "ACCREC", "Contact": {"Name": "Cloud POS sales – Steve Test Store"}, "Date": "2026-03-01",
        "DueDate": "2026-03-01", "Reference": "s-steve-1 2026-03-01", "CurrencyCode": "GBP",
        "LineAmountTypes": "Exclusive", "Status": "AUTHORISED",
        "LineItems": [
            {"Description": "Sales at 20% VAT, 01 Mar 2026", "Quantity": 1, "UnitAmount": 195.83, "TaxAmount": 39.16,
             "AccountCode": "200", "TaxType": "OUTPUT2"},
            {"Description": "Sales at 0% VAT, 01 Mar 2026", "Quantity": 1, "UnitAmount": 51.96, "TaxAmount": 0.0,
             "AccountCode": "200", "TaxType": "ZERORATEDOUTPUT"}]}]}


@pytest.mark.parametrize(("net", "tax", "amount", "vat"), [
    ("8.325", "1.665", "8.33", "1.67"),     # half-up, not banker's rounding
    ("8.324", "1.664", "8.32", "1.66"),
    ("0.005", "0.001", "0.01", "0.00"),
    ("1234.5", "246.9", "1234.50", "246.90"),
    ("99.9949", "19.9990", "99.99", "20.00"),
])
def test_amounts_are_rounded_half_up_to_pennies(net, tax, amount, vat):
    line = invoice_of(sales(("20", net, tax))).lines[0]
    assert (line.amount, line.tax) == (Decimal(amount), Decimal(vat))
    assert line.amount.as_tuple().exponent == -2 and line.tax.as_tuple().exponent == -2


def test_unit_amounts_reach_xero_as_two_place_numbers():
    item = invoice_of(sales(("20", "8.325", "1.665"))).xero_body()["Invoices"][0]["LineItems"][0]
    assert (item["UnitAmount"], item["TaxAmount"]) == (8.33, 1.67)


def test_a_day_with_no_sales_is_nothing_sold():
    assert build_invoice(sales(count=0), "Store") == NothingSold()


def test_lines_that_round_to_nothing_are_left_out_and_a_day_of_only_those_is_nothing_sold():
    assert build_invoice(sales(("20", "0.004", "0.0008")), "Store") == NothingSold()
    invoice = invoice_of(sales(("20", "10.00", "2.00"), ("0", "0.00", "0.00")))
    assert [line.tax_type for line in invoice.lines] == ["OUTPUT2"]


def test_a_vat_rate_without_a_tax_type_needs_a_person():
    refused = build_invoice(sales(("20", "10.00", "2.00"), ("5", "10.00", "0.50")), "Store")
    assert refused == Refused("no Xero tax type is configured for 5% VAT")


def test_tax_types_and_the_account_come_from_the_rules():
    rules = InvoiceRules("4000", {Decimal("20"): "OUTPUT2", Decimal("5"): "RROUTPUT"})
    invoice = invoice_of(sales(("5.0", "10.00", "0.50")), rules)
    assert (invoice.account_code, invoice.lines[0].tax_type) == ("4000", "RROUTPUT")
    assert invoice.xero_body()["Invoices"][0]["LineItems"][0]["AccountCode"] == "4000"
    assert invoice.lines[0].description == "Sales at 5% VAT, 01 Mar 2026"


def test_rates_written_differently_are_the_same_rate():
    assert invoice_of(sales(("20.00", "10.00", "2.00"))).lines[0].tax_type == "OUTPUT2"
    assert invoice_of(sales(("0.0", "10.00", "0.00"))).lines[0].tax_type == "ZERORATEDOUTPUT"


def test_a_refund_line_is_kept_but_refunds_over_sales_need_a_credit_note():
    invoice = invoice_of(sales(("20", "100.00", "20.00"), ("0", "-10.00", "0.00")))
    assert invoice.lines[1].amount == Decimal("-10.00") and invoice.total == Decimal("110.00")
    refused = build_invoice(sales(("20", "-50.00", "-10.00")), "Store")
    assert isinstance(refused, Refused) and "credit note" in refused.problem


def test_the_invoice_carries_the_sales_currency():
    assert invoice_of(sales(("20", "1.00", "0.20"), currency="EUR")).xero_body()["Invoices"][0]["CurrencyCode"] == "EUR"
