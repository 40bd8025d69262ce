"""A store's day of sales on the platform API: seeded per (store, date), summarised per VAT rate and payment
method, with the sandbox's error shape; and the controls that add sales to a day or empty it."""

from datetime import date, timedelta
from decimal import Decimal

import pytest

from sandboxes.cloudpos import demo_data as demo
from sandboxes.cloudpos.sales import Line, seeded_day, summary_json

DAY = "2026-03-02"  # a Monday
SUNDAY = "2026-03-01"


def sales(client, store_id: str = "s-steve-1", day: str | None = DAY):
    return client.get(f"/api/v1/stores/{store_id}/sales", params={"date": day} if day is not None else {})


def dec(text: str) -> Decimal:
    return Decimal(text)


def test_a_day_of_sales_is_the_same_every_time_and_differs_between_days_and_stores(platform):
    first, again = sales(platform).json(), sales(platform).json()
    assert first == again
    assert sales(platform, day="2026-03-03").json()["sales"] != first["sales"]
    assert sales(platform, "s-steve-2").json()["sales"] != first["sales"]
    assert (first["store_id"], first["merchant_id"], first["date"], first["currency"]) == (
        "s-steve-1", "m-steve-cycles", DAY, "GBP")
    assert 3 <= len(first["sales"]) <= 8


def test_each_line_adds_up_in_pennies_and_the_summary_adds_up_the_lines(platform):
    day = sales(platform).json()
    lines = [line for sale in day["sales"] for line in sale["lines"]]
    for line in lines:
        assert dec(line["net"]) + dec(line["tax"]) == dec(line["gross"])
        assert line["vat_rate"] in ("20", "0") and isinstance(line["price_includes_vat"], bool)
        assert all(len(line[k].split(".")[1]) == 2 for k in ("unit_price", "net", "tax", "gross"))
    summary = day["summary"]
    assert summary["sales_count"] == len(day["sales"])
    for field in ("net", "tax", "gross"):
        total = sum((dec(line[field]) for line in lines), Decimal(0))
        assert dec(summary["totals"][field]) == total
        assert sum((dec(r[field]) for r in summary["by_vat_rate"]), Decimal(0)) == total
        assert sum((dec(m[field]) for m in summary["by_payment_method"]), Decimal(0)) == total
    rates = [r["vat_rate"] for r in summary["by_vat_rate"]]
    assert rates == sorted(rates, key=Decimal, reverse=True)
    assert {m["payment_method"] for m in summary["by_payment_method"]} <= {"card", "cash"}
    assert sum(m["sales_count"] for m in summary["by_payment_method"]) == len(day["sales"])


def test_vat_on_prices_including_and_excluding_vat():
    assert Line("Tube", 1, dec("6.99"), True, dec("20")).amounts() == (dec("5.83"), dec("1.16"), dec("6.99"))
    assert Line("Labour", 2, dec("40.00"), False, dec("20")).amounts() == (dec("80.00"), dec("16.00"),
                                                                           dec("96.00"))
    assert Line("Book", 3, dec("12.99"), True, dec("0")).amounts() == (dec("38.97"), dec("0.00"), dec("38.97"))
    assert Line("Tea", 1, dec("2.10"), True, dec("5")).amounts() == (dec("2.00"), dec("0.10"), dec("2.10"))


def test_an_empty_day_has_a_zero_summary():
    assert summary_json([]) == {"sales_count": 0, "totals": {"net": "0.00", "tax": "0.00", "gross": "0.00"},
                                "by_vat_rate": [], "by_payment_method": []}


def test_seeded_weeks_use_both_rates_and_both_payment_methods():
    days = [seeded_day("s-steve-1", date(2026, 3, 2) + timedelta(days=n)) for n in range(14)]
    every = [sale for day in days for sale in day]
    assert {line.vat_rate for sale in every for line in sale.lines} == {dec("20"), dec("0")}
    assert {sale.payment_method for sale in every} == {"card", "cash"}
    assert {line.price_includes_vat for sale in every for line in sale.lines} == {True, False}


def test_the_outlet_store_sells_nothing_on_sundays(platform):
    assert demo.STEVE_OUTLET_CLOSED_WEEKDAYS == {6}
    closed = sales(platform, "s-steve-3", SUNDAY).json()
    assert closed["sales"] == [] and closed["summary"]["sales_count"] == 0
    assert sales(platform, "s-steve-3", DAY).json()["sales"] != []
    assert sales(platform, "s-steve-1", SUNDAY).json()["sales"] != []


def test_unknown_store_is_404_with_the_sandbox_error_shape(platform):
    response = sales(platform, "s-nobody")
    assert response.status_code == 404
    assert response.json() == {"error": "not_found", "message": "No store 's-nobody'."}


@pytest.mark.parametrize("day", [None, "", "2026-02-30", "02/03/2026", "2026-3-2", "yesterday", "20260302"])
def test_a_bad_date_is_400(platform, day):
    response = sales(platform, day=day)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_date"


@pytest.mark.parametrize("authorization", [None, "Bearer wrong", "Bearer support-test-token"])
def test_sales_need_the_platform_token(cloudpos, authorization):
    headers = {"Authorization": authorization} if authorization else {}
    response = cloudpos.get("/api/v1/stores/s-steve-1/sales", params={"date": DAY}, headers=headers)
    assert response.status_code == 401 and response.json()["error"] == "unauthorized"


def test_a_control_adds_a_sale_after_the_seeded_ones(platform, control):
    before = sales(platform).json()
    added = control.post("/_sandbox/stores/s-steve-1/sales", json={
        "date": DAY, "payment_method": "cash", "time": "17:45",
        "lines": [{"description": "Tea", "quantity": 2, "unit_price": "1.05", "vat_rate": "5"},
                  {"description": "Labour", "unit_price": "40.00", "price_includes_vat": False}]})
    assert added.status_code == 201
    assert added.json()["sale_id"] == f"s-steve-1-20260302-{len(before['sales']) + 1:03d}"
    assert added.json()["totals"] == {"net": "42.00", "tax": "8.10", "gross": "50.10"}
    after = sales(platform).json()
    assert after["sales"][:-1] == before["sales"] and after["sales"][-1] == added.json()
    assert "5" in [r["vat_rate"] for r in after["summary"]["by_vat_rate"]]
    assert dec(after["summary"]["totals"]["gross"]) == dec(before["summary"]["totals"]["gross"]) + dec("50.10")


def test_a_control_empties_a_day_then_sales_can_be_added_to_it(platform, control):
    assert control.delete("/_sandbox/stores/s-steve-2/sales", params={"date": DAY}).status_code == 200
    assert sales(platform, "s-steve-2").json()["sales"] == []
    control.post("/_sandbox/stores/s-steve-2/sales", json={
        "date": DAY, "lines": [{"description": "Helmet", "unit_price": "24.99", "vat_rate": "0"}]})
    day = sales(platform, "s-steve-2").json()
    assert [s["sale_id"] for s in day["sales"]] == ["s-steve-2-20260302-001"]
    assert day["summary"]["by_vat_rate"] == [{"vat_rate": "0", "net": "24.99", "tax": "0.00", "gross": "24.99"}]
    assert day["summary"]["by_payment_method"][0]["payment_method"] == "card"
    assert sales(platform, "s-steve-2", "2026-03-03").json()["sales"] != []  # other days keep their seed


def test_reset_brings_the_seeded_days_back(platform, control):
    seeded = sales(platform).json()
    control.delete("/_sandbox/stores/s-steve-1/sales", params={"date": DAY})
    control.post("/_sandbox/reset")
    assert sales(platform).json() == seeded


@pytest.mark.parametrize(("body", "status"), [
    ({"date": DAY, "lines": [{"description": "x", "unit_price": "1.00", "vat_rate": "17.5"}]}, 422),
    ({"date": DAY, "lines": [{"description": "x", "unit_price": "1.001"}]}, 422),
    ({"date": DAY, "lines": []}, 422),
    ({"date": DAY, "payment_method": "voucher", "lines": [{"description": "x", "unit_price": "1.00"}]}, 422),
    ({"date": "03/02/2026", "lines": [{"description": "x", "unit_price": "1.00"}]}, 400),
])
def test_bad_sales_are_refused(control, body, status):
    response = control.post("/_sandbox/stores/s-steve-1/sales", json=body)
    assert response.status_code == status


def test_sales_controls_need_the_control_token_and_a_known_store(cloudpos, control):
    body = {"date": DAY, "lines": [{"description": "x", "unit_price": "1.00"}]}
    assert cloudpos.post("/_sandbox/stores/s-steve-1/sales", json=body).status_code == 401
    assert cloudpos.delete("/_sandbox/stores/s-steve-1/sales", params={"date": DAY}).status_code == 401
    assert control.post("/_sandbox/stores/s-nobody/sales", json=body).status_code == 404


def test_merchants_seeded_by_control_can_have_closed_days(platform, control):
    control.post("/_sandbox/merchants", json={"merchant_id": "m-x", "name": "X", "licence": "pro_plus",
                                              "stores": [{"store_id": "s-x", "name": "X", "closed_weekdays": [0]}]})
    assert sales(platform, "s-x", DAY).json()["sales"] == []  # Monday
    assert sales(platform, "s-x", "2026-03-03").json()["sales"] != []
