"""Accounts, TaxRates, Contacts and Invoices: Xero's envelope, computed totals, contacts made by name, filters,
the ValidationException and PostDataInvalidException shapes, and what the control read reports."""

import re

import pytest

from sandboxes.xero import OTHER_EMAIL, OTHER_ORG_TENANT_ID, STEVE_PREMIUM_TENANT_ID, STEVE_TEST_STORE_TENANT_ID

from .conftest import ACCOUNTING_SCOPES

LINES = [{"Description": "Bike service", "Quantity": 2, "UnitAmount": "10.00", "AccountCode": "200",
          "TaxType": "OUTPUT2"},
         {"Description": "Inner tube", "Quantity": 1, "UnitAmount": 5.5, "AccountCode": "200",
          "TaxType": "ZERORATEDOUTPUT"}]


def sale(**overrides) -> dict:
    return {"Type": "ACCREC", "Contact": {"Name": "Daily Sales"}, "Date": "2026-07-01", "DueDate": "2026-07-01",
            "Reference": "Till 1 2026-07-01", "Status": "AUTHORISED", "LineItems": LINES, **overrides}


@pytest.fixture
async def token(sandbox):
    return await sandbox.connect(scope=ACCOUNTING_SCOPES)


def invoices_of(sandbox, tenant=STEVE_TEST_STORE_TENANT_ID) -> dict:
    return sandbox.control("GET", f"/_sandbox/tenants/{tenant}/invoices")


async def test_accounts_and_tax_rates_are_per_country(sandbox, token):
    accounts = (await sandbox.api(token, "GET", "/api.xro/2.0/Accounts")).json()
    assert list(accounts) == ["Id", "Status", "ProviderName", "DateTimeUTC", "Accounts"]
    by_code = {a["Code"]: a for a in accounts["Accounts"]}
    assert (by_code["200"]["Name"], by_code["200"]["Type"], by_code["200"]["TaxType"]) == ("Sales", "REVENUE",
                                                                                          "OUTPUT2")
    assert (by_code["090"]["Type"], by_code["260"]["Name"]) == ("BANK", "Other Revenue")
    rates = {r["TaxType"]: r for r in (await sandbox.api(token, "GET", "/api.xro/2.0/TaxRates")).json()["TaxRates"]}
    assert rates["OUTPUT2"]["Name"] == "20% (VAT on Income)" and rates["OUTPUT2"]["EffectiveRate"] == 20.0
    assert {"ZERORATEDOUTPUT", "NONE"} <= set(rates)
    nz = await sandbox.connect(scope=ACCOUNTING_SCOPES, tenants=[OTHER_ORG_TENANT_ID], email=OTHER_EMAIL)
    nz_rates = (await sandbox.api(nz, "GET", "/api.xro/2.0/TaxRates", tenant=OTHER_ORG_TENANT_ID)).json()
    assert {r["TaxType"]: r["EffectiveRate"] for r in nz_rates["TaxRates"]}["OUTPUT2"] == 15.0


async def test_create_read_update_invoice_with_contact_made_by_name(sandbox, token):
    created = await sandbox.api(token, "PUT", "/api.xro/2.0/Invoices", json={"Invoices": [sale()]})
    assert created.status_code == 200, created.text
    body = created.json()
    assert list(body) == ["Id", "Status", "ProviderName", "DateTimeUTC", "Invoices"]
    assert body["Status"] == "OK" and re.fullmatch(r"/Date\(\d+\)/", body["DateTimeUTC"])
    [invoice] = body["Invoices"]
    assert invoice["InvoiceNumber"] == "INV-0001" and invoice["Status"] == "AUTHORISED"
    assert (invoice["SubTotal"], invoice["TotalTax"], invoice["Total"], invoice["AmountDue"]) == (25.5, 4.0, 29.5, 29.5)
    assert [line["LineAmount"] for line in invoice["LineItems"]] == [20.0, 5.5]
    assert [line["TaxAmount"] for line in invoice["LineItems"]] == [4.0, 0.0]
    assert invoice["Date"] == "/Date(1782864000000+0000)/" and invoice["DateString"] == "2026-07-01T00:00:00"
    contacts = (await sandbox.api(token, "GET", "/api.xro/2.0/Contacts")).json()["Contacts"]
    assert [(c["Name"], c["ContactID"]) for c in contacts] == [("Daily Sales", invoice["Contact"]["ContactID"])]

    by_id = await sandbox.api(token, "GET", f"/api.xro/2.0/Invoices/{invoice['InvoiceID']}")
    by_number = await sandbox.api(token, "GET", "/api.xro/2.0/Invoices/INV-0001")
    assert by_id.json()["Invoices"][0] == by_number.json()["Invoices"][0]
    assert by_id.json()["Invoices"][0]["Reference"] == "Till 1 2026-07-01"

    updated = await sandbox.api(token, "POST", f"/api.xro/2.0/Invoices/{invoice['InvoiceID']}",
                                json={"Invoices": [{"Reference": "Till 1 (corrected)"}]})
    assert updated.status_code == 200, updated.text
    assert updated.json()["Invoices"][0]["Reference"] == "Till 1 (corrected)"
    assert updated.json()["Invoices"][0]["Total"] == 29.5
    second = await sandbox.api(token, "PUT", "/api.xro/2.0/Invoices", json=sale(Reference="Till 1 2026-07-02"))
    assert second.json()["Invoices"][0]["InvoiceNumber"] == "INV-0002"
    assert len((await sandbox.api(token, "GET", "/api.xro/2.0/Contacts")).json()["Contacts"]) == 1
    read = invoices_of(sandbox)
    assert read["creates"] == 2 and [i["Reference"] for i in read["invoices"]] == ["Till 1 (corrected)",
                                                                                   "Till 1 2026-07-02"]


async def test_inclusive_and_no_tax_amounts(sandbox, token):
    lines = [{"Description": "Sale", "Quantity": 1, "UnitAmount": 12, "AccountCode": "200"}]
    inclusive = await sandbox.api(token, "PUT", "/api.xro/2.0/Invoices",
                                  json=sale(LineAmountTypes="Inclusive", LineItems=lines))
    no_tax = await sandbox.api(token, "PUT", "/api.xro/2.0/Invoices",
                               json=sale(LineAmountTypes="NoTax", LineItems=lines))
    one, two = inclusive.json()["Invoices"][0], no_tax.json()["Invoices"][0]
    assert (one["SubTotal"], one["TotalTax"], one["Total"]) == (10.0, 2.0, 12.0)
    assert one["LineItems"][0]["TaxType"] == "OUTPUT2"  # the account's default tax rate
    assert (two["SubTotal"], two["TotalTax"], two["Total"]) == (12.0, 0.0, 12.0)


async def test_post_creates_then_updates_by_number_and_draft_can_be_approved(sandbox, token):
    first = await sandbox.api(token, "POST", "/api.xro/2.0/Invoices",
                              json=sale(InvoiceNumber="DS-2026-07-01", Status="DRAFT"))
    again = await sandbox.api(token, "POST", "/api.xro/2.0/Invoices",
                              json=sale(InvoiceNumber="DS-2026-07-01", Status="AUTHORISED"))
    assert first.status_code == again.status_code == 200, again.text
    assert first.json()["Invoices"][0]["InvoiceID"] == again.json()["Invoices"][0]["InvoiceID"]
    assert again.json()["Invoices"][0]["Status"] == "AUTHORISED"
    assert invoices_of(sandbox)["creates"] == 1
    back = await sandbox.api(token, "POST", "/api.xro/2.0/Invoices",
                             json=sale(InvoiceNumber="DS-2026-07-01", Status="DRAFT"))
    assert back.status_code == 400
    assert back.json()["Elements"][0]["ValidationErrors"] == [
        {"Message": "Invoice not of valid status for modification"}]


@pytest.mark.parametrize("invoice, message", [
    (sale(Contact=None), "A Contact must be specified for this type of transaction"),
    (sale(LineItems=[{**LINES[0], "AccountCode": "999"}]), "Account code '999' is not a valid code for this document."),
    (sale(LineItems=[{**LINES[0], "AccountCode": "090"}]), "Account code '090' is not a valid code for this document."),
    (sale(LineItems=[{**LINES[0], "TaxType": "MADEUP"}]),
     "The TaxType code MADEUP does not exist or cannot be used for this type of transaction."),
    (sale(LineItems=[{**LINES[0], "TaxType": "INPUT2"}]),
     "The TaxType code INPUT2 does not exist or cannot be used for this type of transaction."),
    (sale(LineItems=[]), "At least one line item must be specified"),
    (sale(Status="PAID"), "Invoice not of valid status for creation"),
    (sale(CurrencyCode="USD"), "Organisation is not subscribed to currency USD"),
])
async def test_validation_errors_have_xeros_shape_and_save_nothing(sandbox, token, invoice, message):
    response = await sandbox.api(token, "PUT", "/api.xro/2.0/Invoices", json={"Invoices": [invoice]})
    assert response.status_code == 400
    body = response.json()
    assert (body["ErrorNumber"], body["Type"], body["Message"]) == (10, "ValidationException",
                                                                   "A validation exception occurred")
    [element] = body["Elements"]
    assert {"Message": message} in element["ValidationErrors"]
    assert element["Reference"] == invoice["Reference"] and element["Type"] == "ACCREC"
    assert response.headers["x-minlimit-remaining"] == "59" and "x-daylimit-remaining" in response.headers
    assert invoices_of(sandbox)["creates"] == 0


async def test_duplicate_sales_invoice_number_fails_the_whole_batch(sandbox, token):
    assert (await sandbox.api(token, "PUT", "/api.xro/2.0/Invoices", json=sale(InvoiceNumber="A-1"))).status_code == 200
    batch = {"Invoices": [sale(InvoiceNumber="A-2"), sale(InvoiceNumber="a-1")]}
    response = await sandbox.api(token, "PUT", "/api.xro/2.0/Invoices", json=batch)
    assert response.status_code == 400
    assert [e["ValidationErrors"] for e in response.json()["Elements"]] == [
        [], [{"Message": "Invoice # must be unique."}]]
    bill = sale(Type="ACCPAY", InvoiceNumber="A-1", LineItems=[{**LINES[0], "AccountCode": "310", "TaxType": "INPUT2"}])
    assert (await sandbox.api(token, "PUT", "/api.xro/2.0/Invoices", json=bill)).status_code == 200  # bills may repeat
    assert [i["InvoiceNumber"] for i in invoices_of(sandbox)["invoices"]] == ["A-1", "A-1"]


@pytest.mark.parametrize("content, message", [
    (b'{"Invoices": [', "Unexpected character encountered while parsing value"),
    (b'{"Invoices": [{"Type": "ACCREC", "LineItems": [{"UnitAmount": "ten"}]}]}',
     "Could not convert string to decimal: ten. Path 'Invoices[0].LineItems[0].UnitAmount'."),
    (b'{"Type": "ACCREC", "LineAmountTypes": "NO_TAX"}', "Error converting value \"NO_TAX\" to type"),
])
async def test_unreadable_bodies_are_post_data_invalid(sandbox, token, content, message):
    response = await sandbox.api(token, "PUT", "/api.xro/2.0/Invoices", content=content,
                                 headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    body = response.json()
    assert (body["ErrorNumber"], body["Type"]) == (14, "PostDataInvalidException")
    assert message in body["Message"]
    assert "x-minlimit-remaining" in response.headers


async def test_list_filters_paging_and_line_items(sandbox, token):
    for n, status in enumerate(["AUTHORISED", "DRAFT", "AUTHORISED"], start=1):
        made = await sandbox.api(token, "PUT", "/api.xro/2.0/Invoices", json=sale(Reference=f"R{n}", Status=status))
        assert made.status_code == 200
    listed = (await sandbox.api(token, "GET", "/api.xro/2.0/Invoices")).json()
    assert [i["Reference"] for i in listed["Invoices"]] == ["R1", "R2", "R3"] and "pagination" not in listed
    assert all(i["LineItems"] == [] for i in listed["Invoices"])  # no line details without paging, as Xero
    numbers = await sandbox.api(token, "GET", "/api.xro/2.0/Invoices", params={"InvoiceNumbers": "INV-0001,INV-0003"})
    assert [i["Reference"] for i in numbers.json()["Invoices"]] == ["R1", "R3"]
    drafts = await sandbox.api(token, "GET", "/api.xro/2.0/Invoices", params={"Statuses": "DRAFT"})
    assert [i["Reference"] for i in drafts.json()["Invoices"]] == ["R2"]
    where = await sandbox.api(token, "GET", "/api.xro/2.0/Invoices", params={"where": 'Reference=="R3"'})
    assert [i["InvoiceNumber"] for i in where.json()["Invoices"]] == ["INV-0003"]
    paged = (await sandbox.api(token, "GET", "/api.xro/2.0/Invoices", params={"page": 2, "pageSize": 2})).json()
    assert paged["pagination"] == {"page": 2, "pageSize": 2, "pageCount": 2, "itemCount": 3}
    assert [i["Reference"] for i in paged["Invoices"]] == ["R3"] and len(paged["Invoices"][0]["LineItems"]) == 2
    bad = await sandbox.api(token, "GET", "/api.xro/2.0/Invoices", params={"where": 'Total>1 OR Total<0'})
    assert bad.status_code == 400 and bad.json()["Type"] == "QueryParseException"


async def test_contacts_create_search_and_unique_names(sandbox, token):
    made = await sandbox.api(token, "PUT", "/api.xro/2.0/Contacts",
                             json={"Contacts": [{"Name": "Walk-in Customer", "EmailAddress": "till@example.test"}]})
    assert made.status_code == 200, made.text
    contact_id = made.json()["Contacts"][0]["ContactID"]
    clash = await sandbox.api(token, "PUT", "/api.xro/2.0/Contacts", json={"Name": "walk-in customer"})
    assert clash.status_code == 400
    assert "must be unique" in clash.json()["Elements"][0]["ValidationErrors"][0]["Message"]
    found = await sandbox.api(token, "GET", "/api.xro/2.0/Contacts", params={"searchTerm": "walk"})
    named = await sandbox.api(token, "GET", "/api.xro/2.0/Contacts", params={"where": 'Name=="Walk-in Customer"'})
    assert [c["ContactID"] for c in found.json()["Contacts"]] == [c["ContactID"] for c in named.json()["Contacts"]] == [
        contact_id]
    by_id = await sandbox.api(token, "POST", "/api.xro/2.0/Invoices", json=sale(Contact={"ContactID": contact_id}))
    assert by_id.json()["Invoices"][0]["Contact"]["Name"] == "Walk-in Customer"
    unknown = await sandbox.api(token, "GET", "/api.xro/2.0/Contacts/0b7e1c9a-1111-4222-8333-944455556666")
    assert unknown.status_code == 404 and unknown.text == "The resource you're looking for cannot be found"
    assert "x-minlimit-remaining" in unknown.headers


async def test_books_are_per_org_and_reset_clears_them(sandbox):
    async with sandbox.browser() as browser:
        await sandbox.connect(scope=ACCOUNTING_SCOPES, browser=browser)
        token = await sandbox.connect(scope=ACCOUNTING_SCOPES, browser=browser, tenants=[STEVE_PREMIUM_TENANT_ID])
    await sandbox.api(token, "PUT", "/api.xro/2.0/Invoices", json=sale())
    premium = await sandbox.api(token, "GET", "/api.xro/2.0/Invoices", tenant=STEVE_PREMIUM_TENANT_ID)
    assert [i["InvoiceNumber"] for i in premium.json()["Invoices"]] == []
    assert invoices_of(sandbox)["creates"] == 1
    sandbox.control("POST", "/_sandbox/reset")
    assert invoices_of(sandbox) == {"tenant_id": STEVE_TEST_STORE_TENANT_ID, "invoices": [], "payments": [],
                                    "creates": 0, "creates_by_kind": {"Invoices": 0, "Payments": 0, "Contacts": 0}}


async def test_xml_unless_json_is_asked_for(sandbox, token):
    await sandbox.api(token, "PUT", "/api.xro/2.0/Invoices", json=sale())
    response = await sandbox.api(token, "GET", "/api.xro/2.0/Invoices/INV-0001", accept="*/*")
    assert response.headers["content-type"].startswith("text/xml")
    assert "<Invoices><Invoice><Type>ACCREC</Type>" in response.text
    assert "<LineItems><LineItem><Description>Bike service</Description>" in response.text
    assert "<Date>2026-07-01T00:00:00</Date>" in response.text
