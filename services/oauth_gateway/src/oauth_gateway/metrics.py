"""The gateway's business metrics, in the process-wide registry every service's `/metrics` renders.

Xero's limits belong to the app, so these say how close every caller together runs to them. Labels are
limit names, outcomes and Xero's problem names: never a tenant id (one series per organisation would grow
without bound).
"""

from prometheus_client import Counter, Gauge, Histogram

from shared.metrics import REGISTRY

BUDGET_LIMITS = ("none", "concurrent", "minute", "day", "appminute", "blocked", "upkeep")
RATE_LIMIT_PROBLEMS = ("minute", "day", "appminute", "concurrent")

BUDGET_RESERVATIONS = Counter(
    "xero_budget_reservations_total", "Requests for a slot in Xero's budget: granted at once (limit none), granted "
    "after waiting for `limit`, or refused because of `limit`", ["limit", "outcome"], registry=REGISTRY)
BUDGET_WAIT = Histogram("xero_budget_wait_seconds", "Time spent waiting for a slot in Xero's budget, by outcome",
                        ["outcome"], buckets=(0.0, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60), registry=REGISTRY)
BUDGET_IN_FLIGHT = Gauge("xero_budget_in_flight", "Xero calls this instance has in flight (slots held)",
                         registry=REGISTRY)
RATE_LIMITED = Counter("xero_rate_limited_total", "429 answers from Xero, by X-Rate-Limit-Problem", ["problem"],
                       registry=REGISTRY)


def count_reservation(limit: str, outcome: str, waited: float) -> None:
    """One slot request's end: `outcome` granted, waited or refused; `limit` the last one that held it up."""
    BUDGET_RESERVATIONS.labels(limit if limit in BUDGET_LIMITS else "none", outcome).inc()
    BUDGET_WAIT.labels("refused" if outcome == "refused" else "granted").observe(waited)


UPKEEP_STEPS = Counter(
    "xero_upkeep_steps_total", "Upkeep work on grants: step keepalive or check, outcome ok, failed or deferred "
    "(the upkeep share of the budget was spent)", ["step", "outcome"], registry=REGISTRY)


def count_rate_limited(problem: str | None) -> None:
    """Xero's problem header as sent (lower-cased); anything else is "unknown", so the series stay few."""
    name = (problem or "").strip().lower()
    RATE_LIMITED.labels(name if name in RATE_LIMIT_PROBLEMS else "unknown").inc()


PLATFORM_CALLS = Counter(
    "platform_api_calls_total", "Calls to the platform API: `operation` (connection, access_token, proxy) and "
    "`outcome`, the refusal's code or, for calls Xero answered, `xero_<status class>` (xero_2xx, xero_4xx...)",
    ["operation", "outcome"], registry=REGISTRY)
TOKENS_ISSUED = Counter("platform_tokens_issued_total", "Access tokens handed to platform clients", ["client"],
                        registry=REGISTRY)


def count_platform_call(operation: str, outcome: str | int) -> None:
    """`outcome`: a refusal code, or Xero's status (folded into its class to keep the series few)."""
    PLATFORM_CALLS.labels(operation, f"xero_{outcome // 100}xx" if isinstance(outcome, int) else outcome).inc()
