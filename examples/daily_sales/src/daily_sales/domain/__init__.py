"""The daily-sales rules: pure and synchronous (no I/O, no settings). Which days a store owes, how a day's sales
become one Xero invoice, how the registry's events change a merchant's map, and how each answer is judged."""

from .days import DayPolicy, idempotency_key
from .invoice import DaySales, Invoice, InvoiceLine, InvoiceRules, VatTotal, build_invoice
from .ledger import ClaimedDay, DueDay, PostableStore
from .merchants import Link, Merchant
from .outcomes import (
    Connection,
    Decision,
    NothingSold,
    Outcome,
    Posted,
    ProxyAnswer,
    ReconnectNeeded,
    Refused,
    RetryLater,
    RetryPolicy,
    Status,
    decide,
    judge_answer,
    judge_connection,
    judge_search,
)

__all__ = [
    "ClaimedDay", "Connection", "DayPolicy", "DaySales", "Decision", "DueDay", "Invoice", "InvoiceLine",
    "InvoiceRules", "Link", "Merchant", "NothingSold", "Outcome", "PostableStore", "Posted", "ProxyAnswer",
    "ReconnectNeeded", "Refused", "RetryLater", "RetryPolicy", "Status", "VatTotal", "build_invoice", "decide",
    "idempotency_key", "judge_answer", "judge_connection", "judge_search",
]
