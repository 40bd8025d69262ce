"""Accounting API routes a daily sales poster calls: Contacts, Accounts, TaxRates, Invoices, Payments.

Paths as Xero's (matched case-insensitively: the app lower-cases /api.xro/ paths before routing). Every route
goes through TenantGate.serve, so scopes, tenant checks, limits, delay and Idempotency-Key apply alike.
Unpaged invoice lists carry no line items and no `pagination` (as Xero); `?page=` adds both.
Creates answer 200 with the envelope, as Xero does (not 201).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from fastapi import APIRouter, Request
from fastapi.responses import Response

from sandboxes.xero.accounting import Books, Outcome, payment_json, save_contacts, save_payments
from sandboxes.xero.gate import READ, WRITE, TenantCall, TenantGate
from sandboxes.xero.invoices import invoice_json, save_invoices
from sandboxes.xero.problems import not_found, post_data_invalid, query_parse, validation_exception
from sandboxes.xero.render import answer, envelope
from sandboxes.xero.settings import XeroSandboxSettings
from sandboxes.xero.state import XeroState
from sandboxes.xero.where import QueryParseError, matches, parse_where
from sandboxes.xero.wire import PostDataInvalid, elements_of, read_json

PAGE_SIZE, MAX_PAGE_SIZE = 100, 1000


def query(request: Request) -> dict[str, str]:
    """Xero reads query parameter names case-insensitively (`statuses` = `Statuses`)."""
    return {k.lower(): v for k, v in request.query_params.items()}


def listed(q: dict[str, str], name: str) -> list[str]:
    return [part.strip().lower() for part in q.get(name, "").split(",") if part.strip()]


def page_of(records: list[dict], q: dict[str, str]) -> tuple[list[dict], dict]:
    """(this page, the envelope's `pagination`), or everything and no pagination when `page` is absent."""
    if not q.get("page", "").strip().isdigit():
        return records, {}
    page = max(int(q["page"]), 1)
    size = int(q["pagesize"]) if q.get("pagesize", "").isdigit() else PAGE_SIZE
    size = min(max(size, 1), MAX_PAGE_SIZE)
    count = len(records)
    info = {"page": page, "pageSize": size, "pageCount": (count + size - 1) // size, "itemCount": count}
    return records[(page - 1) * size: page * size], {"pagination": info}


# (method, path, resource whose scopes apply, write?, handler): the whole API surface and its scopes at a glance.
ROUTES = (
    ("GET", "/accounts", "settings", READ, "list_accounts"),
    ("GET", "/accounts/{account_id}", "settings", READ, "get_account"),
    ("GET", "/taxrates", "settings", READ, "list_tax_rates"),
    ("GET", "/contacts", "contacts", READ, "list_contacts"),
    ("GET", "/contacts/{ref}", "contacts", READ, "get_contact"),
    ("PUT", "/contacts", "contacts", WRITE, "create_contacts"),
    ("POST", "/contacts", "contacts", WRITE, "upsert_contacts"),
    ("GET", "/invoices", "invoices", READ, "list_invoices"),
    ("GET", "/invoices/{ref}", "invoices", READ, "get_invoice"),
    ("PUT", "/invoices", "invoices", WRITE, "create_invoices"),
    ("POST", "/invoices", "invoices", WRITE, "upsert_invoices"),
    ("POST", "/invoices/{ref}", "invoices", WRITE, "update_invoice"),
    ("GET", "/payments", "payments", READ, "list_payments"),
    ("GET", "/payments/{payment_id}", "payments", READ, "get_payment"),
    ("PUT", "/payments", "payments", WRITE, "create_payments"),
    ("POST", "/payments", "payments", WRITE, "create_payments"),
)


def build_accounting_router(state: XeroState, settings: XeroSandboxSettings, gate: TenantGate) -> APIRouter:
    routes, router = AccountingRoutes(state, settings), APIRouter(prefix="/api.xro/2.0")
    for method, path, resource, write, name in ROUTES:
        router.add_api_route(path, _behind(gate, resource, write, getattr(routes, name)), methods=[method],
                             name=f"{name}_{method.lower()}")
    return router


def _behind(gate: TenantGate, resource: str, write: bool, handler) -> Callable:
    """An endpoint that lets the gate admit the call, then runs `handler(request, call, **path_params)`."""
    async def endpoint(request: Request) -> Response:
        return await gate.serve(request, resource, write,
                                lambda call: handler(request, call, **request.path_params))
    return endpoint


class AccountingRoutes:
    """Handlers for admitted calls: read the org's books, answer in Xero's envelope or error shapes."""

    def __init__(self, state: XeroState, settings: XeroSandboxSettings) -> None:
        self.state, self.settings = state, settings

    # --- shared answers ------------------------------------------------------------------------------------
    def books(self, call: TenantCall) -> Books:
        return self.state.accounting.books_for(call.org)

    def ok(self, request: Request, collection: str, items: list, **extra) -> Response:
        return answer(request, envelope(self.settings.app_name, self.state.clock.now(), collection, items, **extra))

    @staticmethod
    def bad(request: Request, body: dict) -> Response:
        return answer(request, body, 400, "ApiException")

    async def write(self, request: Request, collection: str, save: Callable[[object], Outcome],
                    render: Callable[[object], dict]) -> Response:
        """Read the body, save all elements or none, answer with the saved records or Xero's 400."""
        try:
            outcome = save(read_json(await request.body()))
        except PostDataInvalid as exc:
            return self.bad(request, post_data_invalid(str(exc)))
        if outcome.rejected:
            return self.bad(request, validation_exception(outcome.rejected))
        return self.ok(request, collection, [render(item) for item in outcome.saved])

    def listing(self, request: Request, collection: str, records: list[dict], paged: bool = True) -> Response:
        q = query(request)
        try:
            clauses = parse_where(q.get("where"))
            records = [r for r in records if matches(r, clauses)]
        except QueryParseError as exc:
            return self.bad(request, query_parse(str(exc)))
        page, extra = page_of(records, q) if paged else (records, {})
        return self.ok(request, collection, page, **extra)

    def one(self, request: Request, collection: str, record: dict | None) -> Response:
        return self.ok(request, collection, [record]) if record else not_found()

    # --- settings: chart of accounts and tax rates (read-only demo data) --------------------------------------
    async def list_accounts(self, request: Request, call: TenantCall) -> Response:
        return self.listing(request, "Accounts", self.books(call).accounts, paged=False)

    async def get_account(self, request: Request, call: TenantCall, account_id: str) -> Response:
        return self.one(request, "Accounts", self.books(call).account(account_id=account_id))

    async def list_tax_rates(self, request: Request, call: TenantCall) -> Response:
        wanted = query(request).get("taxtype", "").strip().lower()
        rates = [r for r in self.books(call).tax_rates if not wanted or r["TaxType"].lower() == wanted]
        return self.listing(request, "TaxRates", rates, paged=False)

    # --- contacts ------------------------------------------------------------------------------------------
    async def list_contacts(self, request: Request, call: TenantCall) -> Response:
        q = query(request)
        ids, term = listed(q, "ids"), q.get("searchterm", "").strip().lower()
        found = [c for c in sorted(self.books(call).contacts.values(), key=lambda c: c["Name"].lower())
                 if (not ids or c["ContactID"] in ids) and (not term or _mentions(c, term))]
        return self.listing(request, "Contacts", found)

    async def get_contact(self, request: Request, call: TenantCall, ref: str) -> Response:
        """/Contacts/{ContactID or ContactNumber}."""
        books = self.books(call)
        return self.one(request, "Contacts", books.contact(ref) or next(
            (c for c in books.contacts.values() if (c.get("ContactNumber") or "").lower() == ref.lower()), None))

    async def create_contacts(self, request: Request, call: TenantCall) -> Response:
        return await self._save_contacts(request, call, upsert=False)

    async def upsert_contacts(self, request: Request, call: TenantCall) -> Response:
        return await self._save_contacts(request, call, upsert=True)

    async def _save_contacts(self, request: Request, call: TenantCall, upsert: bool) -> Response:
        books, now = self.books(call), self.state.clock.now()
        return await self.write(request, "Contacts",
                                lambda body: save_contacts(books, elements_of(body, "Contacts"), upsert, now),
                                lambda contact: contact)

    # --- invoices ------------------------------------------------------------------------------------------
    async def list_invoices(self, request: Request, call: TenantCall) -> Response:
        books, q = self.books(call), query(request)
        with_lines = q.get("page", "").strip().isdigit()
        chosen = [i for i in books.invoices.values() if _invoice_wanted(i, q, call.client_id)]
        return self.listing(request, "Invoices", [invoice_json(books, i, with_lines=with_lines) for i in chosen])

    async def get_invoice(self, request: Request, call: TenantCall, ref: str) -> Response:
        """/Invoices/{InvoiceID or InvoiceNumber}."""
        books = self.books(call)
        invoice = books.invoice(ref)
        return self.one(request, "Invoices", invoice_json(books, invoice) if invoice else None)

    async def create_invoices(self, request: Request, call: TenantCall) -> Response:
        return await self._save_invoices(request, call, upsert=False)

    async def upsert_invoices(self, request: Request, call: TenantCall) -> Response:
        return await self._save_invoices(request, call, upsert=True)

    async def update_invoice(self, request: Request, call: TenantCall, ref: str) -> Response:
        return await self._save_invoices(request, call, upsert=True, ref=ref)

    async def _save_invoices(self, request: Request, call: TenantCall, upsert: bool, ref: str | None = None):
        books, now = self.books(call), self.state.clock.now()
        target = books.invoice(ref) if ref else None
        if ref and target is None:
            return not_found()
        places = Decimal("0.0001") if query(request).get("unitdp") == "4" else Decimal("0.01")
        return await self.write(request, "Invoices", lambda body: save_invoices(
            books, body, upsert=upsert, now=now, client_id=call.client_id, target=target, unit_places=places),
            lambda invoice: invoice_json(books, invoice))

    # --- payments ------------------------------------------------------------------------------------------
    async def list_payments(self, request: Request, call: TenantCall) -> Response:
        books = self.books(call)
        return self.listing(request, "Payments", [payment_json(books, p) for p in books.payments.values()])

    async def get_payment(self, request: Request, call: TenantCall, payment_id: str) -> Response:
        books = self.books(call)
        payment = books.payments.get(payment_id.lower())
        return self.one(request, "Payments", payment_json(books, payment) if payment else None)

    async def create_payments(self, request: Request, call: TenantCall) -> Response:
        """PUT and POST alike: each element is a new payment."""
        books, now = self.books(call), self.state.clock.now()
        return await self.write(request, "Payments",
                                lambda body: save_payments(books, elements_of(body, "Payments"), now),
                                lambda payment: payment_json(books, payment))


def _mentions(contact: dict, term: str) -> bool:
    return any(term in str(contact.get(k) or "").lower()
               for k in ("Name", "FirstName", "LastName", "EmailAddress", "ContactNumber"))


def _invoice_wanted(invoice, q: dict[str, str], client_id: str) -> bool:
    """The explicit filters Xero recommends over `where`: IDs, InvoiceNumbers, ContactIDs, Statuses, ..."""
    checks = [("ids", invoice.invoice_id), ("invoicenumbers", invoice.number.lower()),
              ("contactids", invoice.contact_id or ""), ("statuses", invoice.status.lower())]
    if any((wanted := listed(q, name)) and value not in wanted for name, value in checks):
        return False
    term = q.get("searchterm", "").strip().lower()
    if term and term not in invoice.number.lower() and term not in (invoice.reference or "").lower():
        return False
    return q.get("createdbymyapp", "").lower() != "true" or invoice.created_by == client_id
