"""/app/invoices: the browser page an end-to-end test opens to see what was posted, per organisation."""

import re
from html import unescape

from sandboxes.xero import DEMO_PASSWORD, OTHER_EMAIL, OTHER_ORG_TENANT_ID, STEVE_EMAIL

from .conftest import ACCOUNTING_SCOPES

SALE = {"Type": "ACCREC", "Contact": {"Name": "Daily Sales & Co"}, "Date": "2026-07-01", "Status": "AUTHORISED",
        "Reference": "Till 1 2026-07-01",
        "LineItems": [{"Description": "Takings", "Quantity": 1, "UnitAmount": "1234.50", "AccountCode": "200"}]}


def text_of(html: str) -> str:
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)))


async def test_not_logged_in_goes_to_login_and_comes_back(sandbox):
    async with sandbox.browser() as browser:
        first = await browser.get("/app/invoices")
        assert first.status_code == 302
        assert first.headers["location"] == "/identity/user/login?ReturnUrl=%2Fapp%2Finvoices"
        login = await browser.get(first.headers["location"])
        assert 'name="ReturnUrl" value="/app/invoices"' in login.text
        posted = await browser.post("/identity/user/login", data={"email": STEVE_EMAIL, "password": DEMO_PASSWORD,
                                                                   "ReturnUrl": "/app/invoices"})
        assert (posted.status_code, posted.headers["location"]) == (302, "/app/invoices")
        page = await browser.get("/app/invoices")
    assert page.status_code == 200
    assert "<h2" in page.text and "Steve Test Store" in page.text and "No invoices yet." in page.text
    assert "Other Org Ltd" not in page.text


async def test_page_lists_the_posted_invoice_under_its_org(sandbox):
    async with sandbox.browser() as browser:
        token = await sandbox.connect(scope=ACCOUNTING_SCOPES, browser=browser)
        posted = await sandbox.api(token, "PUT", "/api.xro/2.0/Invoices", json=SALE)
        assert posted.status_code == 200
        page = await browser.get("/app/invoices")  # the consent login left the session cookie
    assert page.status_code == 200
    sections = re.findall(r"<section.*?</section>", page.text, re.S)
    store = next(s for s in sections if "Steve Test Store" in s)
    assert '<th scope="col">Number</th>' in store
    row = text_of(re.search(r"<tbody>.*?</tbody>", store, re.S).group(0))
    assert row.strip() == ("INV-0001 Daily Sales & Co 1 Jul 2026 Till 1 2026-07-01 GBP 1,481.40 "
                           "Awaiting Payment AUTHORISED")
    assert all("INV-0001" not in s for s in sections if s is not store)


async def test_each_user_sees_only_their_own_orgs(sandbox):
    async with sandbox.browser() as browser:
        token = await sandbox.connect(scope=ACCOUNTING_SCOPES, browser=browser, tenants=[OTHER_ORG_TENANT_ID],
                                      email=OTHER_EMAIL)
        await sandbox.api(token, "PUT", "/api.xro/2.0/Invoices", json={**SALE, "Reference": "NZ sale"},
                          tenant=OTHER_ORG_TENANT_ID)
        page = await browser.get("/app/invoices")
    assert "Other Org Ltd" in page.text and "NZ sale" in page.text and "NZD 1,419.68" in page.text
    assert "Steve Test Store" not in page.text
