"""Sales invoices and bills: read an element, merge it over the stored invoice, compute totals, validate, save.

Amounts follow Xero: LineAmount = Quantity x UnitAmount less DiscountRate %, rounded per line; tax per line from
the line's TaxType (or the account's default); Exclusive adds tax on top, Inclusive takes it out of the line
amount, NoTax has none. Validation texts are Xero's where known (see the reference notes); a few marked
"text unverified" are plausible wording for rules Xero does enforce.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal

from sandboxes.xero.accounting import ZERO, Books, Invoice, Line, Outcome, day_fields, payment_summary
from sandboxes.xero.wire import (
    elements_of,
    ms_date,
    number,
    round_money,
    to_date,
    to_decimal,
    to_enum,
    to_object,
    to_text,
)

TYPES = ("ACCREC", "ACCPAY")
STATUSES = ("DRAFT", "SUBMITTED", "AUTHORISED", "PAID", "VOIDED", "DELETED")
AMOUNT_TYPES = ("Exclusive", "Inclusive", "NoTax")
QUANTITY_PLACES = Decimal("0.0001")
NOT_MODIFIABLE = "Invoice not of valid status for modification"


@dataclass
class LineInput:
    line_item_id: str | None = None
    description: str | None = None
    quantity: Decimal | None = None
    unit_amount: Decimal | None = None
    line_amount: Decimal | None = None
    account_code: str | None = None
    tax_type: str | None = None
    discount_rate: Decimal | None = None
    item_code: str | None = None


@dataclass
class InvoiceInput:
    """One element of the request after deserialisation; None means 'not sent' (keep what is stored)."""
    raw: dict
    invoice_id: str | None
    type: str | None
    contact: dict | None
    number: str | None
    reference: str | None
    date: date | None
    due_date: date | None
    status: str | None
    amount_types: str | None
    currency: str | None
    lines: list[LineInput] | None


@dataclass
class Plan:
    given: InvoiceInput
    invoice: Invoice
    existing: Invoice | None
    new_contact: str | None = None
    errors: list[str] = field(default_factory=list)


def read_invoice(raw: dict, path: str) -> InvoiceInput:
    lines = raw.get("LineItems")
    if lines is not None and not isinstance(lines, list):
        lines = [lines] if isinstance(lines, dict) else to_object(lines, f"{path}.LineItems")
    return InvoiceInput(
        raw=raw, invoice_id=to_text(raw.get("InvoiceID"), f"{path}.InvoiceID"),
        type=to_enum(raw.get("Type"), TYPES, "InvoiceType", f"{path}.Type"),
        contact=to_object(raw.get("Contact"), f"{path}.Contact"),
        number=to_text(raw.get("InvoiceNumber"), f"{path}.InvoiceNumber"),
        reference=to_text(raw.get("Reference"), f"{path}.Reference"),
        date=to_date(raw.get("Date"), f"{path}.Date"), due_date=to_date(raw.get("DueDate"), f"{path}.DueDate"),
        status=to_enum(raw.get("Status"), STATUSES, "InvoiceStatus", f"{path}.Status"),
        amount_types=to_enum(raw.get("LineAmountTypes"), AMOUNT_TYPES, "LineAmountType", f"{path}.LineAmountTypes"),
        currency=to_text(raw.get("CurrencyCode"), f"{path}.CurrencyCode"),
        lines=None if lines is None else [_read_line(item, f"{path}.LineItems[{i}]") for i, item in enumerate(lines)])


def _read_line(raw: object, path: str) -> LineInput:
    raw = to_object(raw, path) or {}
    return LineInput(
        line_item_id=to_text(raw.get("LineItemID"), f"{path}.LineItemID"),
        description=to_text(raw.get("Description"), f"{path}.Description"),
        quantity=to_decimal(raw.get("Quantity"), f"{path}.Quantity"),
        unit_amount=to_decimal(raw.get("UnitAmount"), f"{path}.UnitAmount"),
        line_amount=to_decimal(raw.get("LineAmount"), f"{path}.LineAmount"),
        account_code=to_text(raw.get("AccountCode"), f"{path}.AccountCode"),
        tax_type=to_text(raw.get("TaxType"), f"{path}.TaxType"),
        discount_rate=to_decimal(raw.get("DiscountRate"), f"{path}.DiscountRate"),
        item_code=to_text(raw.get("ItemCode"), f"{path}.ItemCode"))


def save_invoices(books: Books, body: object, *, upsert: bool, now: datetime, client_id: str,
                  target: Invoice | None = None, unit_places: Decimal = Decimal("0.01")) -> Outcome:
    """PUT creates only; POST creates or updates (by InvoiceID, the path's invoice, or an ACCREC number)."""
    inputs = [read_invoice(raw, f"Invoices[{i}]") for i, raw in enumerate(elements_of(body, "Invoices"))]
    plans: list[Plan] = []
    for given in inputs:
        existing, errors = (target, []) if target is not None else _existing(books, given, upsert)
        plan = plan_invoice(books, given, existing, plans, now, client_id, unit_places)
        plan.errors[:0] = errors
        plans.append(plan)
    if any(p.errors for p in plans):
        return Outcome(rejected=[{**invoice_json(books, p.invoice, pending_contact=p.new_contact), "HasErrors": True,
                                  "ValidationErrors": [{"Message": m} for m in p.errors]} for p in plans])
    return Outcome(saved=[_commit(books, p, now) for p in plans])


def _existing(books: Books, given: InvoiceInput, upsert: bool) -> tuple[Invoice | None, list[str]]:
    if not upsert:
        return None, []
    if given.invoice_id:
        found = books.invoices.get(given.invoice_id.strip().lower())
        return found, [] if found else ["An existing Invoice with the specified InvoiceID could not be found"]
    if given.number and given.type != "ACCPAY":
        wanted = given.number.strip().lower()
        return next((i for i in books.invoices.values() if i.type == "ACCREC" and i.status != "DELETED"
                     and i.number.lower() == wanted), None), []
    return None, []


def plan_invoice(books: Books, given: InvoiceInput, existing: Invoice | None, earlier: list[Plan],
                 now: datetime, client_id: str, unit_places: Decimal) -> Plan:
    """The invoice as it would be after this write, and everything Xero would refuse about it."""
    base = existing or Invoice(str(uuid.uuid4()), given.type or "ACCREC", None, "", None, now.date(), None,
                               "DRAFT", "Exclusive", [], books.currency, ZERO, ZERO, ZERO, client_id, now)
    kind = given.type or base.type
    amount_types = given.amount_types or base.line_amount_types
    line_inputs = given.lines if given.lines is not None else [_as_input(line) for line in base.lines]
    lines, errors = compute_lines(books, kind, amount_types, line_inputs, unit_places)
    sub_total, total_tax, total = totals(lines, amount_types)
    contact_id, new_contact, contact_errors = _contact(books, given, base)
    invoice = replace(base, type=kind, contact_id=contact_id, number=(given.number or base.number).strip(),
                      reference=given.reference if given.reference is not None else base.reference,
                      date=given.date or base.date, due_date=given.due_date or base.due_date,
                      status=given.status or base.status, line_amount_types=amount_types, lines=lines,
                      currency=(given.currency or base.currency).upper(), sub_total=sub_total,
                      total_tax=total_tax, total=total, updated_at=now, payment_ids=list(base.payment_ids))
    errors = ([] if given.type or existing else ["Invoice Type must be specified"]) + contact_errors + errors
    errors += _status_errors(existing, given.status or base.status)
    errors += _document_errors(books, invoice, existing, earlier)
    return Plan(given, invoice, existing, new_contact, errors)


def _as_input(line: Line) -> LineInput:
    return LineInput(line.line_item_id, line.description, line.quantity, line.unit_amount, None,
                     line.account_code, line.tax_type, line.discount_rate, line.item_code)


def compute_lines(books: Books, kind: str, amount_types: str, inputs: list[LineInput],
                  unit_places: Decimal) -> tuple[list[Line], list[str]]:
    lines, errors = [], []
    for given in inputs:
        line, problems = compute_line(books, kind, amount_types, given, unit_places)
        lines.append(line)
        errors += [p for p in problems if p not in errors]
    return lines, errors


def compute_line(books: Books, kind: str, amount_types: str, given: LineInput,
                 unit_places: Decimal) -> tuple[Line, list[str]]:
    errors: list[str] = []
    priced = given.unit_amount is not None or given.line_amount is not None
    quantity = (given.quantity if given.quantity is not None else Decimal(1 if priced else 0)).quantize(QUANTITY_PLACES)
    factor = 1 - (given.discount_rate or ZERO) / 100
    if given.unit_amount is not None:
        unit = round_money(given.unit_amount, unit_places)
    elif given.line_amount is not None and quantity and factor:
        unit = round_money(given.line_amount / quantity / factor, unit_places)
    else:
        unit = ZERO
    amount = round_money(quantity * unit * factor)
    if given.line_amount is not None:
        sent = round_money(given.line_amount)
        if given.unit_amount is not None and given.quantity is not None and sent != amount:
            errors.append(f"The line total {sent} does not match the expected line total {amount}")  # text unverified
        amount = sent
    account = books.account(code=given.account_code) if given.account_code else None
    if given.account_code and (account is None or account["Type"] == "BANK"):
        errors.append(f"Account code '{given.account_code}' is not a valid code for this document.")
    tax_type, rate = _tax(books, kind, amount_types, given.tax_type or (account or {}).get("TaxType"), errors)
    tax = {"Exclusive": round_money(amount * rate / 100), "Inclusive": round_money(amount * rate / (100 + rate)),
           "NoTax": ZERO}[amount_types]
    return Line(given.line_item_id or str(uuid.uuid4()), given.description, quantity, unit, given.account_code,
                tax_type, tax, amount, given.discount_rate, given.item_code), errors


def _tax(books: Books, kind: str, amount_types: str, tax_type: str | None,
         errors: list[str]) -> tuple[str | None, Decimal]:
    if amount_types == "NoTax" and not tax_type:
        return "NONE", ZERO
    if not tax_type:
        return None, ZERO
    rate = books.tax_rate(tax_type)
    if rate is None or not rate["CanApplyToRevenue" if kind == "ACCREC" else "CanApplyToExpenses"]:
        errors.append(f"The TaxType code {tax_type} does not exist or cannot be used for this type of transaction.")
        return tax_type, ZERO
    return rate["TaxType"], ZERO if amount_types == "NoTax" else Decimal(str(rate["EffectiveRate"]))


def totals(lines: list[Line], amount_types: str) -> tuple[Decimal, Decimal, Decimal]:
    """(SubTotal, TotalTax, Total)."""
    amounts, tax = sum((line.line_amount for line in lines), ZERO), sum((line.tax_amount for line in lines), ZERO)
    if amount_types == "Inclusive":
        return amounts - tax, tax, amounts
    return amounts, tax, amounts + tax


def _contact(books: Books, given: InvoiceInput, base: Invoice) -> tuple[str | None, str | None, list[str]]:
    """(ContactID, a new contact's name to create on save, errors): a name Xero does not know creates one."""
    missing = ["A Contact must be specified for this type of transaction"]
    if given.contact is None:
        return base.contact_id, None, [] if base.contact_id else missing
    contact_id = to_text(given.contact.get("ContactID"), "Contact.ContactID")
    name = (to_text(given.contact.get("Name"), "Contact.Name") or "").strip()
    if contact_id:
        found = books.contact(contact_id)
        return (found["ContactID"], None, []) if found else (
            None, None, ["The contact with the specified ContactID could not be found"])  # text unverified
    if name:
        found = books.contact_named(name)
        return (found["ContactID"], None, []) if found else (None, name, [])
    return None, None, missing


def _status_errors(existing: Invoice | None, status: str) -> list[str]:
    if existing is None:
        return [] if status in ("DRAFT", "SUBMITTED", "AUTHORISED") else ["Invoice not of valid status for creation"]
    if existing.amount_paid > 0:
        return ["This document cannot be edited as it has a payment or credit note allocated to it."]
    if existing.status in ("PAID", "VOIDED", "DELETED") or status == "PAID":
        return [NOT_MODIFIABLE]
    if status == "DELETED" and existing.status not in ("DRAFT", "SUBMITTED"):
        return [NOT_MODIFIABLE]
    if status == "VOIDED" and existing.status != "AUTHORISED":
        return [NOT_MODIFIABLE]
    if status in ("DRAFT", "SUBMITTED") and existing.status == "AUTHORISED":
        return [NOT_MODIFIABLE]
    return []


def _document_errors(books: Books, invoice: Invoice, existing: Invoice | None, earlier: list[Plan]) -> list[str]:
    errors = []
    if not invoice.lines:
        errors.append("At least one line item must be specified")  # text unverified
    if invoice.status in ("SUBMITTED", "AUTHORISED") and any(
            not line.account_code and line.line_amount for line in invoice.lines):
        errors.append("An account code must be specified for each line item")  # text unverified
    if invoice.currency != books.currency:
        errors.append(f"Organisation is not subscribed to currency {invoice.currency}")
    if invoice.total < 0:
        errors.append("Invoice total must be zero or positive")  # text unverified
    if invoice.type == "ACCREC" and invoice.number and _number_taken(books, invoice, existing, earlier):
        errors.append("Invoice # must be unique.")
    return errors


def _number_taken(books: Books, invoice: Invoice, existing: Invoice | None, earlier: list[Plan]) -> bool:
    wanted = invoice.number.lower()
    stored = any(i.type == "ACCREC" and i.status != "DELETED" and i.number.lower() == wanted and i is not existing
                 for i in books.invoices.values())
    return stored or any(p.invoice.type == "ACCREC" and p.invoice.number.lower() == wanted for p in earlier)


def _commit(books: Books, plan: Plan, now: datetime) -> Invoice:
    invoice = plan.invoice
    if plan.new_contact:
        contact = books.contact_named(plan.new_contact) or books.add_contact({"Name": plan.new_contact}, now)
        invoice.contact_id = contact["ContactID"]
    contact = books.contacts[invoice.contact_id]
    contact["IsCustomer" if invoice.type == "ACCREC" else "IsSupplier"] = True
    if not invoice.number and invoice.type == "ACCREC":
        invoice.number = books.next_invoice_number()
    if plan.existing is None:
        books.creates["Invoices"] += 1
    books.invoices[invoice.invoice_id] = invoice
    return invoice


def invoice_json(books: Books, invoice: Invoice, *, with_lines: bool = True,
                 pending_contact: str | None = None) -> dict:
    """Field names and order as Xero's Invoice schema; LineItems empty in an unpaged list, as Xero sends."""
    contact = books.contacts.get(invoice.contact_id or "") or ({"Name": pending_contact} if pending_contact else {})
    payments = [payment_summary(books.payments[p]) for p in invoice.payment_ids if p in books.payments]
    return {
        "Type": invoice.type, "InvoiceID": invoice.invoice_id,
        **({"InvoiceNumber": invoice.number} if invoice.number else {}),
        **({"Reference": invoice.reference} if invoice.reference else {}),
        "Payments": payments, "CreditNotes": [], "Prepayments": [], "Overpayments": [],
        "AmountDue": number(invoice.amount_due), "AmountPaid": number(invoice.amount_paid),
        "AmountCredited": 0.0, "SentToContact": False, "CurrencyRate": 1.0, "IsDiscounted": False,
        "HasAttachments": False, "HasErrors": False,
        "Contact": {**{k: contact[k] for k in ("ContactID", "Name") if k in contact}, "Addresses": [], "Phones": [],
                    "ContactGroups": [], "ContactPersons": [], "HasValidationErrors": False},
        **day_fields("Date", invoice.date), **day_fields("DueDate", invoice.due_date),
        "Status": invoice.status, "LineAmountTypes": invoice.line_amount_types,
        "LineItems": [line_json(books, line) for line in invoice.lines] if with_lines else [],
        "SubTotal": number(invoice.sub_total), "TotalTax": number(invoice.total_tax), "Total": number(invoice.total),
        "UpdatedDateUTC": ms_date(invoice.updated_at), "CurrencyCode": invoice.currency,
        **({"FullyPaidOnDate": ms_date(invoice.fully_paid_on)} if invoice.fully_paid_on else {}),
    }


def line_json(books: Books, line: Line) -> dict:
    account = books.account(code=line.account_code) if line.account_code else None
    return {**({"Description": line.description} if line.description is not None else {}),
            "UnitAmount": number(line.unit_amount),
            **({"TaxType": line.tax_type} if line.tax_type else {}), "TaxAmount": number(line.tax_amount),
            "LineAmount": number(line.line_amount),
            **({"AccountCode": line.account_code} if line.account_code else {}),
            **({"AccountID": account["AccountID"]} if account else {}),
            **({"ItemCode": line.item_code} if line.item_code else {}),
            **({"DiscountRate": number(line.discount_rate)} if line.discount_rate is not None else {}),
            "Tracking": [], "Quantity": number(line.quantity), "LineItemID": line.line_item_id}
