"""Merchant-level facts: completion (the merchant finished), finalisation and resends (the helpdesk).

Each command builds the event it publishes and then applies it with the same `record_*` rule a rebuild
applies to that event read back from Kafka, so live state and rebuilt state cannot disagree.

Resend rule: "resend notification" re-publishes the SetupCompleted data recorded at completion (the map
as the merchant finished it; later changes went out as ConnectionsChanged) under a NEW CloudEvents id,
with `causationid` = the original SetupCompleted's id and the merchant's correlation id. The notifier
deduplicates on the id, so it notifies again; any consumer that must act once per completion recognises
a resend by its causation id naming an earlier SetupCompleted.
"""

from dataclasses import dataclass, replace
from datetime import datetime
from uuid import UUID

from shared.contracts import CloudEvent, SetupCompleted, SetupFinalised

from .connections import entry
from .model import Change, Completion, Finalisation, Graph, Park
from .outgoing import SOURCE

HELPDESK = "helpdesk"


@dataclass(frozen=True, slots=True)
class Refusal:
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class Done:
    """The command's outcome; `change` is None when it had already been done (idempotent repeat)."""

    merchant_id: str
    event_id: UUID
    at: datetime
    by: str
    change: Change | None


def unknown_merchant(graph: Graph) -> Refusal:
    return Refusal("unknown_merchant", f"No merchant {graph.merchant_id} is known: validate a Cloud POS API key first.")


def complete(graph: Graph, completed_by: str, event_id: UUID, now: datetime,
             correlation_id: UUID | None) -> Done | Refusal:
    """Record that the merchant finished; at least one store must be connected. Repeats change nothing."""
    merchant = graph.merchant
    if merchant is None:
        return unknown_merchant(graph)
    if merchant.completion:
        c = merchant.completion
        return Done(graph.merchant_id, c.event_id, c.at, c.by, None)
    links = graph.links()
    if not links:
        return Refusal("nothing_connected", "Connect at least one store to a Xero organisation before finishing.")
    event = CloudEvent(data=SetupCompleted(merchant_id=graph.merchant_id, merchant_name=merchant.name, links=links,
                                           completed_by=completed_by),
                       source=SOURCE, id=event_id, time=now, correlation_id=correlation_id or merchant.correlation_id)
    change = record_completion(graph, event)
    assert isinstance(change, Change)
    return Done(graph.merchant_id, event_id, now, completed_by, change)


def record_completion(graph: Graph, event: CloudEvent) -> Change | Park:
    """Apply a SetupCompleted: the first is the completion, one caused by it is a resend."""
    data = event.data
    assert isinstance(data, SetupCompleted)
    merchant = graph.merchant
    if merchant is None:
        return Park("KeyValidated for the merchant")
    done = merchant.completion
    if done is None:
        orgs = len({link.tenant_id for link in data.links})
        completion = Completion(event.id, event.time, data.completed_by, data.links)
        line = entry(event, f"Setup completed: {len(data.links)} store(s) connected to {orgs} organisation(s)",
                     data.completed_by)
        return Change(merchant=replace(merchant, completion=completion), timeline=(line,), publish=(event,))
    if event.causation_id == done.event_id:
        line = entry(event, "Setup-completed notification resent to the helpdesk", HELPDESK)
        return Change(timeline=(line,), publish=(event,))
    return Change(timeline=(entry(event, "Another SetupCompleted ignored: setup was already completed",
                                  data.completed_by, reason="already_completed"),))


def finalise(graph: Graph, finalised_by: str, event_id: UUID, now: datetime) -> Done | Refusal:
    """The helpdesk finished the setup: published once as SetupFinalised for the platform backend."""
    merchant = graph.merchant
    if merchant is None:
        return unknown_merchant(graph)
    if merchant.completion is None:
        return Refusal("not_completed", "The merchant has not completed the setup yet.")
    if merchant.finalisation:
        f = merchant.finalisation
        return Done(graph.merchant_id, f.event_id, f.at, f.by, None)
    event = CloudEvent(data=SetupFinalised(merchant_id=graph.merchant_id, finalised_by=finalised_by), source=SOURCE,
                       id=event_id, time=now, causation_id=merchant.completion.event_id,
                       correlation_id=merchant.correlation_id)
    change = record_finalisation(graph, event)
    assert isinstance(change, Change)
    return Done(graph.merchant_id, event_id, now, finalised_by, change)


def record_finalisation(graph: Graph, event: CloudEvent) -> Change | Park:
    data = event.data
    assert isinstance(data, SetupFinalised)
    merchant = graph.merchant
    if merchant is None:
        return Park("KeyValidated for the merchant")
    if merchant.finalisation:
        return Change(timeline=(entry(event, "Another SetupFinalised ignored: setup was already finalised",
                                      data.finalised_by, reason="already_finalised"),))
    finalisation = Finalisation(event.id, event.time, data.finalised_by)
    return Change(merchant=replace(merchant, finalisation=finalisation),
                  timeline=(entry(event, "Setup finalised by the helpdesk", data.finalised_by),), publish=(event,))


def resend(graph: Graph, event_id: UUID, now: datetime) -> Done | Refusal:
    """Re-publish the recorded SetupCompleted under a new id (see the module doc for the rule)."""
    merchant = graph.merchant
    if merchant is None:
        return unknown_merchant(graph)
    done = merchant.completion
    if done is None:
        return Refusal("not_completed", "The merchant has not completed the setup yet: nothing to resend.")
    event = CloudEvent(data=SetupCompleted(merchant_id=graph.merchant_id, merchant_name=merchant.name,
                                           links=done.links, completed_by=done.by),
                       source=SOURCE, id=event_id, time=now, causation_id=done.event_id,
                       correlation_id=merchant.correlation_id)
    change = record_completion(graph, event)
    assert isinstance(change, Change)
    return Done(graph.merchant_id, event_id, now, HELPDESK, change)
