"""How one attempt at a day ended, and what the ledger does next.

The platform API's own problems (RFC 9457, with a `code`) and Xero's answers (passed through unchanged) are
judged here, in one place:
- posted: Xero's InvoiceID and number are kept; the day is done.
- refused (400 ValidationException, body_too_large, other 4xx): a person must look; retrying would only repeat
  the refusal, so the day waits as `failed` with Xero's validation messages.
- reconnect needed (store_not_connected, connection_broken, missing_scope, reconnect_needed, Xero 401/403): the
  merchant must act; the day waits until ConnectionsChanged or the next hourly look at the connection. A
  connection whose status is `reconnect_needed` is still used: it works for what was granted.
- retry later (429 rate_limited, 5xx, xero_unavailable/xero_timeout, no answer): never sooner than Retry-After,
  otherwise an exponential, jittered backoff. Our own token refused (unauthorized/forbidden) is retried too,
  loudly: nothing is wrong with the day, the service's configuration is.
A retry first searches Xero for the day's Reference (`judge_search`): an earlier attempt may have made the
invoice after Xero forgot its idempotency key.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from uuid import UUID


class Status(StrEnum):
    PENDING = "pending"                    # due at next_attempt_at: the first try or a retry
    POSTING = "posting"                    # an attempt holds it until next_attempt_at; after a crash it is re-sent
    POSTED = "posted"
    NO_SALES = "no_sales"
    FAILED = "failed"                      # refused for good: a person must look at last_problem
    RECONNECT_NEEDED = "reconnect_needed"  # waits for the merchant to reconnect Xero


CLAIMABLE = (Status.PENDING, Status.POSTING, Status.RECONNECT_NEEDED)
RECONNECT_CODES = frozenset({"store_not_connected", "reconnect_needed", "connection_broken", "missing_scope"})
RETRY_CODES = frozenset({"rate_limited", "xero_unavailable", "xero_timeout"})
CONFIGURATION_CODES = frozenset({"unauthorized", "forbidden", "path_not_allowed"})


@dataclass(frozen=True, slots=True)
class Posted:
    invoice_id: str
    invoice_number: str | None


@dataclass(frozen=True, slots=True)
class NothingSold:
    """No sales (or only lines that cancel out): nothing is posted for the day."""


@dataclass(frozen=True, slots=True)
class Refused:
    problem: str


@dataclass(frozen=True, slots=True)
class ReconnectNeeded:
    problem: str


@dataclass(frozen=True, slots=True)
class RetryLater:
    problem: str
    retry_after: float | None = None
    rate_limited: bool = False
    alarm: bool = False
    """The service itself is misconfigured (its platform token refused): an operator must act."""


Outcome = Posted | NothingSold | Refused | ReconnectNeeded | RetryLater


@dataclass(frozen=True, slots=True)
class Connection:
    """A store's Xero connection as the platform API describes it (`GET /internal/v1/stores/{id}/xero`)."""

    store_id: str
    tenant_id: UUID
    organisation_name: str
    status: str
    missing_scopes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ProxyAnswer:
    """What came back through the proxy: `problem` when the platform API itself refused (problem+json), else
    Xero's JSON `body` (or the start of its `text`), with Retry-After in seconds."""

    status: int
    problem: Mapping[str, Any] | None = None
    body: Mapping[str, Any] | None = None
    text: str = ""
    retry_after: float | None = None


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    base_seconds: float = 30.0
    max_seconds: float = 3600.0
    default_retry_after_seconds: float = 60.0
    max_retry_after_seconds: float = 86400.0
    reconnect_check_seconds: float = 3600.0


@dataclass(frozen=True, slots=True)
class Decision:
    status: Status
    next_attempt_at: datetime | None
    problem: str | None
    invoice_id: str | None = None
    invoice_number: str | None = None


def judge_connection(connection: Connection | None) -> ReconnectNeeded | None:
    """None when the store's connection can take the invoice now. `reconnect_needed` can: the connection still
    works for what was granted, and if Xero refuses for want of a scope the proxy says `missing_scope`."""
    if connection is None:
        return ReconnectNeeded("store_not_connected: the store has no Xero connection")
    if connection.status in ("active", "reconnect_needed"):
        return None
    if connection.status == "broken":
        return ReconnectNeeded(f"connection_broken: the connection to {connection.organisation_name} is broken; "
                               "the merchant must reconnect Xero")
    return ReconnectNeeded(f"the connection is {connection.status!r}")


def judge_answer(answer: ProxyAnswer) -> Outcome:
    if answer.problem is not None:
        return _judge_problem(answer.status, answer.problem, answer.retry_after)
    status = answer.status
    if 200 <= status < 300:
        return _posted(answer.body or {})
    if status == 400:
        return Refused("Xero refused the invoice: " + validation_messages(answer.body, answer.text))
    if status == 429:
        return RetryLater("Xero's rate limit was reached", answer.retry_after, rate_limited=True)
    if status in (401, 403):
        return ReconnectNeeded(f"Xero refused the organisation's authorisation (HTTP {status})")
    if status == 408 or status >= 500:
        return RetryLater(f"Xero is unavailable (HTTP {status})", answer.retry_after)
    return Refused(f"Xero answered HTTP {status}: {answer.text or validation_messages(answer.body, '')}")


def judge_search(answer: ProxyAnswer, reference: str) -> Outcome | None:
    """A retry looks before it re-sends: Xero forgets an idempotency key after a few minutes, so an invoice made
    by an attempt whose answer was lost is found by its Reference. Posted when found; None to go on and send.
    A search that fails for a reason that would stop the PUT too (429, outage, reconnect) stops here; one Xero
    refuses outright (a filter it does not take) is no reason to withhold the invoice."""
    if answer.problem is not None or not 200 <= answer.status < 300:
        outcome = judge_answer(answer)
        return None if isinstance(outcome, Refused) else outcome
    invoices = (answer.body or {}).get("Invoices")
    for invoice in invoices if isinstance(invoices, list) else []:
        if (isinstance(invoice, dict) and invoice.get("Reference") == reference and invoice.get("InvoiceID")
                and invoice.get("Status") not in ("DELETED", "VOIDED")):
            number = invoice.get("InvoiceNumber")
            return Posted(str(invoice["InvoiceID"]), str(number) if number else None)
    return None


def _judge_problem(status: int, problem: Mapping[str, Any], retry_after: float | None) -> Outcome:
    code = str(problem.get("code") or "")
    text = f"{code or f'HTTP {status}'}: {problem.get('detail') or problem.get('title') or ''}".rstrip(": ")
    if code in RECONNECT_CODES:
        missing = problem.get("missing_scopes")
        if isinstance(missing, list) and missing:
            text += f" (missing scopes: {', '.join(map(str, missing))})"
        return ReconnectNeeded(text)
    if code in RETRY_CODES or status >= 500:
        return RetryLater(text, retry_after, rate_limited=code == "rate_limited" or status == 429)
    if code in CONFIGURATION_CODES:
        return RetryLater(f"the platform API refused this service: {text}", alarm=True)
    return Refused(text)


def _posted(body: Mapping[str, Any]) -> Outcome:
    invoices = body.get("Invoices")
    first = invoices[0] if isinstance(invoices, list) and invoices and isinstance(invoices[0], dict) else {}
    if first.get("ValidationErrors"):
        return Refused("Xero refused the invoice: " + validation_messages({"Elements": [first]}, ""))
    if not first.get("InvoiceID"):
        return Refused("Xero answered without an invoice")
    number = first.get("InvoiceNumber")
    return Posted(str(first["InvoiceID"]), str(number) if number else None)


def validation_messages(body: Mapping[str, Any] | None, text: str) -> str:
    """Xero's ValidationException: every `Elements[].ValidationErrors[].Message`, once each, in order."""
    body = body or {}
    elements = body.get("Elements") if isinstance(body.get("Elements"), list) else []
    messages = [str(error["Message"]) for element in elements if isinstance(element, dict)
                for error in element.get("ValidationErrors") or [] if isinstance(error, dict) and error.get("Message")]
    unique = list(dict.fromkeys(messages))
    return "; ".join(unique) or str(body.get("Message") or text or "no reason given")


def backoff(attempt: int, policy: RetryPolicy, random: Callable[[], float]) -> float:
    """30 s, 1 min, 2 min … up to an hour, each jittered down to half so instances do not retry together."""
    delay = min(policy.base_seconds * 2 ** max(attempt - 1, 0), policy.max_seconds)
    return delay * (0.5 + random() / 2)


def decide(outcome: Outcome, attempt: int, now: datetime, policy: RetryPolicy,
           random: Callable[[], float]) -> Decision:
    match outcome:
        case Posted(invoice_id, number):
            return Decision(Status.POSTED, None, None, invoice_id, number)
        case NothingSold():
            return Decision(Status.NO_SALES, None, "no sales that day: nothing posted")
        case Refused(problem):
            return Decision(Status.FAILED, None, problem)
        case ReconnectNeeded(problem):
            return Decision(Status.RECONNECT_NEEDED, now + timedelta(seconds=policy.reconnect_check_seconds),
                            problem)
        case RetryLater(problem=problem):
            return Decision(Status.PENDING, now + timedelta(seconds=retry_delay(outcome, attempt, policy, random)),
                            problem)
    raise AssertionError(f"unknown outcome {outcome!r}")


def retry_delay(outcome: RetryLater, attempt: int, policy: RetryPolicy, random: Callable[[], float]) -> float:
    """Rate limited: exactly Retry-After (the default when none came). Otherwise the backoff, but never sooner
    than a Retry-After that came with the answer (a 503 during maintenance)."""
    retry_after = None if outcome.retry_after is None else min(outcome.retry_after, policy.max_retry_after_seconds)
    if outcome.rate_limited:
        return policy.default_retry_after_seconds if retry_after is None else retry_after
    wait = backoff(attempt, policy, random)
    return wait if retry_after is None else max(wait, retry_after)
