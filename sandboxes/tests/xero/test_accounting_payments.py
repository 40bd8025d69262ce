"""Payments: applied to AUTHORISED invoices from a bank account, AmountDue falls, PAID at zero, and Xero's
refusals for overpayment, unknown invoice or account, a non-bank account and a draft invoice."""

import pytest

from sandboxes.xero import STEVE_TEST_STORE_TENANT_ID

from .conftest import ACCOUNTING_SCOPES

SALE = {"Type": "ACCREC", "Contact": {"Name": "Daily Sales"}, "Date": "2026-07-01", "Status": "AUTHORISED",
        "LineItems": [{"Description": "Takings", "Quantity": 1, "UnitAmount": "100.00", "AccountCode": "200"}]}


@pytest.fixture
async def token(sandbox):
    return await sandbox.connect(scope=ACCOUNTING_SCOPES)


async def invoice(sandbox, token, **overrides) -> dict:
    response = await sandbox.api(token, "PUT", "/api.xro/2.0/Invoices", json={**SALE, **overrides})
    assert response.status_code == 200, response.text
    return response.json()["Invoices"][0]


def payment(invoice_ref: dict, amount, account=None) -> dict:
    return {"Invoice": invoice_ref, "Account": account or {"Code": "090"}, "Date": "2026-07-02", "Amount": amount,
            "Reference": "Card takings"}


async def test_payments_reduce_amount_due_and_mark_paid(sandbox, token):
    made = await invoice(sandbox, token)
    assert made["Total"] == 120.0 and made["AmountDue"] == 120.0
    first = await sandbox.api(token, "PUT", "/api.xro/2.0/Payments",
                              json={"Payments": [payment({"InvoiceID": made["InvoiceID"]}, 20)]})
    assert first.status_code == 200, first.text
    [paid] = first.json()["Payments"]
    assert (paid["Amount"], paid["Status"], paid["PaymentType"]) == (20.0, "AUTHORISED", "ACCRECPAYMENT")
    assert paid["Invoice"]["InvoiceNumber"] == made["InvoiceNumber"] and paid["Account"]["Code"] == "090"
    after = (await sandbox.api(token, "GET", f"/api.xro/2.0/Invoices/{made['InvoiceID']}")).json()["Invoices"][0]
    assert (after["AmountDue"], after["AmountPaid"], after["Status"]) == (100.0, 20.0, "AUTHORISED")
    bank_id = (await sandbox.api(token, "GET", "/api.xro/2.0/Accounts", params={"where": 'Code=="090"'})
               ).json()["Accounts"][0]["AccountID"]
    rest = await sandbox.api(token, "POST", "/api.xro/2.0/Payments",
                             json=payment({"InvoiceNumber": made["InvoiceNumber"]}, "100.00", {"AccountID": bank_id}))
    assert rest.status_code == 200, rest.text
    done = (await sandbox.api(token, "GET", f"/api.xro/2.0/Invoices/{made['InvoiceID']}")).json()["Invoices"][0]
    assert (done["AmountDue"], done["AmountPaid"], done["Status"]) == (0.0, 120.0, "PAID")
    assert done["FullyPaidOnDate"] == "/Date(1782950400000+0000)/" and len(done["Payments"]) == 2
    listed = (await sandbox.api(token, "GET", "/api.xro/2.0/Payments")).json()["Payments"]
    assert sorted(p["Amount"] for p in listed) == [20.0, 100.0]
    control = sandbox.control("GET", f"/_sandbox/tenants/{STEVE_TEST_STORE_TENANT_ID}/invoices")
    assert control["creates_by_kind"]["Payments"] == 2 and control["invoices"][0]["Status"] == "PAID"
    edit = await sandbox.api(token, "POST", f"/api.xro/2.0/Invoices/{made['InvoiceID']}", json={"Reference": "late"})
    assert edit.status_code == 400
    assert edit.json()["Elements"][0]["ValidationErrors"] == [
        {"Message": "This document cannot be edited as it has a payment or credit note allocated to it."}]


@pytest.mark.parametrize("build, messages", [
    (lambda inv: payment({"InvoiceID": inv["InvoiceID"]}, "120.01"),
     ["Payment amount exceeds the amount outstanding on this document"]),
    (lambda inv: payment({"InvoiceID": "0b7e1c9a-1111-4222-8333-944455556666"}, 10), ["Invoice could not be found"]),
    (lambda inv: payment({"InvoiceID": inv["InvoiceID"]}, 10, {"Code": "999"}), ["Account could not be found"]),
    (lambda inv: payment({"InvoiceID": inv["InvoiceID"]}, 10, {"Code": "200"}),
     ["Account type is invalid for making a payment to/from"]),
    (lambda inv: payment({"InvoiceID": inv["InvoiceID"]}, 0), ["Payment amount must be greater than zero"]),
])
async def test_payment_refusals(sandbox, token, build, messages):
    made = await invoice(sandbox, token)
    response = await sandbox.api(token, "PUT", "/api.xro/2.0/Payments", json={"Payments": [build(made)]})
    assert response.status_code == 400
    body = response.json()
    assert body["Type"] == "ValidationException"
    assert [e["Message"] for e in body["Elements"][0]["ValidationErrors"]] == messages
    assert "x-minlimit-remaining" in response.headers
    unchanged = (await sandbox.api(token, "GET", f"/api.xro/2.0/Invoices/{made['InvoiceID']}")).json()["Invoices"][0]
    assert unchanged["AmountDue"] == 120.0 and unchanged["Payments"] == []


async def test_no_payment_on_a_draft_and_a_batch_cannot_overpay(sandbox, token):
    draft = await invoice(sandbox, token, Status="DRAFT")
    refused = await sandbox.api(token, "PUT", "/api.xro/2.0/Payments",
                                json=payment({"InvoiceID": draft["InvoiceID"]}, 5))
    assert refused.json()["Elements"][0]["ValidationErrors"] == [
        {"Message": "Payments can only be made against Authorised documents"}]
    approved = await invoice(sandbox, token)
    batch = {"Payments": [payment({"InvoiceID": approved["InvoiceID"]}, 70),
                          payment({"InvoiceID": approved["InvoiceID"]}, 60)]}
    response = await sandbox.api(token, "PUT", "/api.xro/2.0/Payments", json=batch)
    assert response.status_code == 400
    assert [e["ValidationErrors"] for e in response.json()["Elements"]] == [
        [], [{"Message": "Payment amount exceeds the amount outstanding on this document"}]]
    assert (await sandbox.api(token, "GET", "/api.xro/2.0/Payments")).json()["Payments"] == []
