"""The subscription gate: which Xero plans (`Organisation.Class`) may be connected.

The knowledge base says "at least a standard subscription - trial or starter accounts cannot be
integrated". Xero publishes no tiering and adds new `Class` values before documenting them, so the
class is an open string: a value this module does not know is accepted and flagged for review.
"""

from dataclasses import dataclass
from enum import StrEnum


class Verdict(StrEnum):
    ACCEPTED = "accepted"
    REFUSED = "refused"
    UNKNOWN_ACCEPTED = "unknown_accepted"   # let through, logged for someone to classify


STANDARD_OR_BETTER = frozenset({
    "STANDARD", "GROW", "PREMIUM", "PREMIUM_20", "PREMIUM_50", "PREMIUM_100", "COMPREHENSIVE",
    "ULTIMATE", "ULTIMATE_10", "ULTIMATE_20", "ULTIMATE_50", "ULTIMATE_100", "ULTRA"})
# Starter and its successors / low tiers: capped invoices and bills.
STARTER_LIKE = frozenset({"STARTER", "IGNITE", "LITE", "SIMPLE", "BASICLITE"})
# Partner (accountant-sold) editions: no invoices or bills at all.
PARTNER_RESTRICTED = frozenset({"LEDGER", "GST_CASHBOOK", "NON_GST_CASHBOOK"})

_WHAT_TO_DO = ("Upgrade this organisation to a Standard Xero subscription or better, then connect the store "
               "again, or choose a different organisation.")


@dataclass(frozen=True, slots=True)
class GateDecision:
    verdict: Verdict
    subscription_class: str
    reason: str | None = None     # why it was refused, in the merchant's words

    @property
    def accepted(self) -> bool:
        return self.verdict is not Verdict.REFUSED


def gate(subscription_class: str | None, *, is_demo_company: bool = False, name: str = "This organisation"
         ) -> GateDecision:
    """Decide whether an organisation on plan `subscription_class` may serve a store."""
    plan = (subscription_class or "").strip().upper() or "UNSPECIFIED"
    if plan == "DEMO" or is_demo_company:
        return GateDecision(Verdict.REFUSED, plan, f"'{name}' is Xero's Demo Company, which Xero resets "
                            "regularly, so it cannot be integrated. Connect your real organisation instead.")
    if plan == "TRIAL":
        return GateDecision(Verdict.REFUSED, plan, f"'{name}' is on a Xero trial. Your Xero account must be at "
                            f"least a standard subscription - trial or starter accounts cannot be integrated. "
                            f"{_WHAT_TO_DO}")
    if plan in STARTER_LIKE:
        return GateDecision(Verdict.REFUSED, plan, f"'{name}' is on Xero's {plan.title()} plan. Your Xero account "
                            f"must be at least a standard subscription - trial or starter accounts cannot be "
                            f"integrated. {_WHAT_TO_DO}")
    if plan in PARTNER_RESTRICTED:
        return GateDecision(Verdict.REFUSED, plan, f"'{name}' is on a partner {plan.replace('_', ' ').title()} "
                            f"plan, which cannot hold invoices or bills. {_WHAT_TO_DO}")
    if plan in STANDARD_OR_BETTER:
        return GateDecision(Verdict.ACCEPTED, plan)
    return GateDecision(Verdict.UNKNOWN_ACCEPTED, plan)
