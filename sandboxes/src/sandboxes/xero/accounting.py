"""Per-organisation accounting data (contacts, accounts, tax rates, invoices, payments), in memory, no HTTP.

Writes follow Xero's batch rule (summarizeErrors=true, the default): every element is read and validated
first; if any has a validation error nothing is saved and every element comes back with its ValidationErrors.
Invoices live in invoices.py; this module holds the books, contacts and payments.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from sandboxes.xero import demo_data
from sandboxes.xero.wire import (
    date_string,
    ms_date,
    number,
    round_money,
    to_date,
    to_decimal,
    to_object,
    to_text,
)

ZERO = Decimal("0")


@dataclass
class Line:
    line_item_id: str
    description: str | None
    quantity: Decimal
    unit_amount: Decimal
    account_code: str | None
    tax_type: str | None
    tax_amount: Decimal
    line_amount: Decimal
    discount_rate: Decimal | None = None
    item_code: str | None = None


@dataclass
class Invoice:
    invoice_id: str
    type: str
    contact_id: str | None
    number: str
    reference: str | None
    date: date
    due_date: date | None
    status: str
    line_amount_types: str
    lines: list[Line]
    currency: str
    sub_total: Decimal
    total_tax: Decimal
    total: Decimal
    created_by: str
    updated_at: datetime
    amount_paid: Decimal = ZERO
    payment_ids: list[str] = field(default_factory=list)
    fully_paid_on: date | None = None

    @property
    def amount_due(self) -> Decimal:
        """A draft is due in full; a voided or deleted invoice is due nothing."""
        if self.status in ("VOIDED", "DELETED"):
            return ZERO
        return self.total - self.amount_paid


@dataclass
class Payment:
    payment_id: str
    invoice_id: str
    account_id: str
    date: date
    amount: Decimal
    reference: str | None
    updated_at: datetime
    status: str = "AUTHORISED"


@dataclass
class Outcome:
    """What a batch write did: the saved records, or every element with its ValidationErrors."""
    saved: list = field(default_factory=list)
    rejected: list[dict] = field(default_factory=list)


class Books:
    """One organisation's ledger. Accounts and tax rates are fixed demo settings; the rest starts empty."""

    def __init__(self, org: dict) -> None:
        self.tenant_id, self.currency = org["OrganisationID"], org["BaseCurrency"]
        self.accounts = demo_data.accounts(self.tenant_id, self.currency)
        self.tax_rates = demo_data.tax_rates(org["CountryCode"])
        self.contacts: dict[str, dict] = {}
        self.invoices: dict[str, Invoice] = {}
        self.payments: dict[str, Payment] = {}
        self.creates: Counter[str] = Counter()

    def account(self, code: str | None = None, account_id: str | None = None) -> dict | None:
        for account in self.accounts:
            if (code is not None and account["Code"].lower() == code.strip().lower()) or (
                    account_id is not None and account["AccountID"] == account_id.strip().lower()):
                return account
        return None

    def tax_rate(self, tax_type: str) -> dict | None:
        return next((t for t in self.tax_rates if t["TaxType"].lower() == tax_type.strip().lower()), None)

    def contact(self, contact_id: str) -> dict | None:
        return self.contacts.get(contact_id.strip().lower())

    def contact_named(self, name: str) -> dict | None:
        wanted = name.strip().lower()
        return next((c for c in self.contacts.values() if c["Name"].lower() == wanted), None)

    def add_contact(self, fields: dict, now: datetime) -> dict:
        contact = {"ContactID": str(uuid.uuid4()), "ContactStatus": "ACTIVE", **fields,
                   "Addresses": [], "Phones": [], "ContactGroups": [], "ContactPersons": [],
                   "UpdatedDateUTC": ms_date(now), "IsSupplier": False, "IsCustomer": False,
                   "HasAttachments": False, "HasValidationErrors": False}
        self.contacts[contact["ContactID"]] = contact
        self.creates["Contacts"] += 1
        return contact

    def invoice(self, ref: str) -> Invoice | None:
        """By InvoiceID, else by InvoiceNumber (Xero's /Invoices/{InvoiceID or InvoiceNumber})."""
        key = ref.strip().lower()
        return self.invoices.get(key) or next(
            (i for i in self.invoices.values() if i.number and i.number.lower() == key), None)

    def next_invoice_number(self) -> str:
        taken = {i.number.lower() for i in self.invoices.values()}
        n = sum(1 for i in self.invoices.values() if i.type == "ACCREC") + 1
        while f"inv-{n:04d}" in taken:
            n += 1
        return f"INV-{n:04d}"


class Accounting:
    """Every org's books, made on first use (so a Demo Company reset, a new tenantId, starts empty)."""

    def __init__(self) -> None:
        self.books: dict[str, Books] = {}

    def books_for(self, org: dict) -> Books:
        tenant_id = org["OrganisationID"]
        if tenant_id not in self.books:
            self.books[tenant_id] = Books(org)
        return self.books[tenant_id]


# --- contacts ----------------------------------------------------------------------------------------------
CONTACT_FIELDS = ("Name", "FirstName", "LastName", "EmailAddress", "ContactNumber", "AccountNumber", "TaxNumber")


def save_contacts(books: Books, elements: list[dict], upsert: bool, now: datetime) -> Outcome:
    """PUT creates; POST also updates, matched by ContactID, then ContactNumber, then Name."""
    reads = [(raw, {k: to_text(raw.get(k), f"Contacts[{i}].{k}") for k in CONTACT_FIELDS if k in raw},
              to_text(raw.get("ContactID"), f"Contacts[{i}].ContactID")) for i, raw in enumerate(elements)]
    plans, failed = [], False
    for raw, fields, contact_id in reads:
        target = _contact_target(books, fields, contact_id, upsert)
        errors = _contact_errors(books, fields, contact_id, target, plans)
        failed = failed or bool(errors)
        plans.append((raw, fields, target, errors))
    if failed:
        return Outcome(rejected=[{**raw, "ValidationErrors": [{"Message": m} for m in errors]}
                                 for raw, _, _, errors in plans])
    saved = []
    for _, fields, target, _ in plans:
        if target is None:
            saved.append(books.add_contact(fields, now))
        else:
            target.update(fields, UpdatedDateUTC=ms_date(now))
            saved.append(target)
    return Outcome(saved=saved)


def _contact_target(books: Books, fields: dict, contact_id: str | None, upsert: bool) -> dict | None:
    if contact_id:
        return books.contact(contact_id)
    if not upsert:
        return None
    if fields.get("ContactNumber"):
        found = next((c for c in books.contacts.values() if c.get("ContactNumber") == fields["ContactNumber"]), None)
        if found:
            return found
    return books.contact_named(fields["Name"]) if fields.get("Name") else None


def _contact_errors(books: Books, fields: dict, contact_id: str | None, target: dict | None,
                    earlier: list) -> list[str]:
    if contact_id and target is None:
        return ["The contact with the specified ContactID could not be found"]  # text unverified
    name = (fields.get("Name") or "").strip()
    if target is None and not name:
        return ["Contact name must be specified"]  # text unverified
    clash = books.contact_named(name) if name else None
    clash_in_batch = any((f.get("Name") or "").strip().lower() == name.lower() for _, f, _, _ in earlier)
    if name and ((clash is not None and clash is not target) or clash_in_batch):
        return [f"The contact name {name} is already assigned to another contact. "
                "The contact name must be unique across all active contacts."]
    return []


# --- payments ----------------------------------------------------------------------------------------------
def save_payments(books: Books, elements: list[dict], now: datetime) -> Outcome:
    """Each payment is applied to one AUTHORISED invoice from a BANK (or payments-enabled) account."""
    planned, due_left, failed = [], {}, False
    for i, raw in enumerate(elements):
        payment, errors = _plan_payment(books, raw, f"Payments[{i}]", now, due_left)
        failed = failed or bool(errors)
        planned.append((raw, payment, errors))
    if failed:
        return Outcome(rejected=[{**raw, "ValidationErrors": [{"Message": m} for m in errors]}
                                 for raw, _, errors in planned])
    for _, payment, _ in planned:
        apply_payment(books, payment, now)
    return Outcome(saved=[p for _, p, _ in planned])


def _plan_payment(books: Books, raw: dict, path: str, now: datetime,
                  due_left: dict[str, Decimal]) -> tuple[Payment | None, list[str]]:
    invoice_ref = to_object(raw.get("Invoice"), f"{path}.Invoice") or {}
    account_ref = to_object(raw.get("Account"), f"{path}.Account") or {}
    amount = to_decimal(raw.get("Amount"), f"{path}.Amount")
    day = to_date(raw.get("Date"), f"{path}.Date") or now.date()
    reference = to_text(raw.get("Reference"), f"{path}.Reference")
    invoice_key = to_text(invoice_ref.get("InvoiceID"), f"{path}.Invoice.InvoiceID") or to_text(
        invoice_ref.get("InvoiceNumber"), f"{path}.Invoice.InvoiceNumber")
    account = books.account(code=to_text(account_ref.get("Code"), f"{path}.Account.Code"),
                            account_id=to_text(account_ref.get("AccountID"), f"{path}.Account.AccountID"))
    invoice = books.invoice(invoice_key) if invoice_key else None
    errors = _payment_errors(invoice_key, invoice, account_ref, account, amount, due_left)
    if errors:
        return None, errors
    amount = round_money(amount)
    due_left[invoice.invoice_id] = due_left.get(invoice.invoice_id, invoice.amount_due) - amount
    return Payment(str(uuid.uuid4()), invoice.invoice_id, account["AccountID"], day, amount, reference, now), []


def _payment_errors(invoice_key, invoice: Invoice | None, account_ref: dict, account: dict | None,
                    amount: Decimal | None, due_left: dict[str, Decimal]) -> list[str]:
    """Messages as Xero words them where known; the 'could not be found' texts are unverified."""
    errors = []
    if not invoice_key:
        errors.append("An Invoice, CreditNote, Prepayment or Overpayment must be specified")
    elif invoice is None:
        errors.append("Invoice could not be found")
    if not account_ref:
        errors.append("An Account must be specified")
    elif account is None:
        errors.append("Account could not be found")
    elif account["Type"] != "BANK" and not account["EnablePaymentsToAccount"]:
        errors.append("Account type is invalid for making a payment to/from")
    if amount is None or amount <= 0:
        errors.append("Payment amount must be greater than zero")
    if invoice is not None:
        if invoice.status != "AUTHORISED":
            errors.append("Payments can only be made against Authorised documents")
        if amount is not None and round_money(amount) > due_left.get(invoice.invoice_id, invoice.amount_due):
            errors.append("Payment amount exceeds the amount outstanding on this document")
    return errors


def apply_payment(books: Books, payment: Payment, now: datetime) -> None:
    invoice = books.invoices[payment.invoice_id]
    books.payments[payment.payment_id] = payment
    books.creates["Payments"] += 1
    invoice.payment_ids.append(payment.payment_id)
    invoice.amount_paid += payment.amount
    invoice.updated_at = now
    if invoice.amount_due == 0:
        invoice.status, invoice.fully_paid_on = "PAID", payment.date


def payment_json(books: Books, payment: Payment) -> dict:
    invoice = books.invoices[payment.invoice_id]
    account = books.account(account_id=payment.account_id) or {}
    contact = books.contacts.get(invoice.contact_id or "", {})
    return {"PaymentID": payment.payment_id, "Date": ms_date(payment.date), "BankAmount": number(payment.amount),
            "Amount": number(payment.amount), **({"Reference": payment.reference} if payment.reference else {}),
            "CurrencyRate": 1.0, "PaymentType": f"{invoice.type}PAYMENT", "Status": payment.status,
            "UpdatedDateUTC": ms_date(payment.updated_at), "HasAccount": True, "IsReconciled": False,
            "Account": {"AccountID": account.get("AccountID"), "Code": account.get("Code")},
            "Invoice": {"Type": invoice.type, "InvoiceID": invoice.invoice_id, "InvoiceNumber": invoice.number,
                        "Contact": {"ContactID": contact.get("ContactID"), "Name": contact.get("Name")},
                        "CurrencyCode": invoice.currency},
            "HasValidationErrors": False}


def payment_summary(payment: Payment) -> dict:
    """How a payment appears inside its invoice."""
    return {"PaymentID": payment.payment_id, "Date": ms_date(payment.date), "Amount": number(payment.amount),
            **({"Reference": payment.reference} if payment.reference else {}), "CurrencyRate": 1.0,
            "HasAccount": False, "HasValidationErrors": False}


def day_fields(prefix: str, day: date | None) -> dict:
    """`DateString` + `Date` (or `DueDateString` + `DueDate`) as Xero pairs them; nothing when unset."""
    return {} if day is None else {f"{prefix}String": date_string(day), prefix: ms_date(day)}
