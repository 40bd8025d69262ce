"""A sliver of Xero's web app: `/app/invoices` lists each of the signed-in user's organisations' invoices, so an
end-to-end browser test can see what a poster wrote. Signed in means the login page's session cookie; without
it the browser is sent to the login page and comes back here."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from sandboxes.xero.accounting import Books, Invoice
from sandboxes.xero.authorize import SESSION_COOKIE, with_query
from sandboxes.xero.pages import render
from sandboxes.xero.state import XeroState

INVOICES_PATH = "/app/invoices"
STATUS_LABELS = {"DRAFT": "Draft", "SUBMITTED": "Awaiting Approval", "AUTHORISED": "Awaiting Payment",
                 "PAID": "Paid", "VOIDED": "Voided"}


def build_webapp_router(state: XeroState) -> APIRouter:
    router = APIRouter()

    @router.get(INVOICES_PATH)
    async def invoices_page(request: Request) -> Response:
        session = state.sessions.get(request.cookies.get(SESSION_COOKIE, ""))
        if session is None or session.sub not in state.users:
            return RedirectResponse(with_query("/identity/user/login", {"ReturnUrl": INVOICES_PATH}), 302)
        orgs = [{"name": org["Name"], "invoices": _rows(state.accounting.books_for(org))}
                for org in state.user_orgs(session.sub)]
        return render("invoices", orgs=orgs, email=state.users[session.sub]["email"])

    return router


def _rows(books: Books) -> list[dict]:
    """Newest first, as Xero's invoice list shows them; deleted invoices are not listed."""
    shown = [i for i in books.invoices.values() if i.status != "DELETED"]
    return [_row(books, i) for i in sorted(shown, key=lambda i: (i.date, i.updated_at), reverse=True)]


def _row(books: Books, invoice: Invoice) -> dict:
    contact = books.contacts.get(invoice.contact_id or "", {})
    return {"number": invoice.number, "contact": contact.get("Name", ""),
            "date": f"{invoice.date.day} {invoice.date:%b %Y}", "reference": invoice.reference or "",
            "total": f"{invoice.currency} {invoice.total:,.2f}", "code": invoice.status,
            "status": STATUS_LABELS.get(invoice.status, invoice.status.title())}
