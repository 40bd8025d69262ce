"""The helpdesk's "Send reminder": a merchant connected stores but never said they had finished.

Like completion and finalisation, the command builds the SetupReminderRequested it publishes and applies it
with `record_reminder`, the rule a rebuild applies to that event read back from Kafka. One reminder per
`min_gap` at most: a double click, or two agents working the same queue, email the merchant once.
"""

from dataclasses import replace
from datetime import datetime, timedelta
from uuid import UUID

from shared.contracts import CloudEvent, SetupReminderRequested

from .completion import Done, Refusal, unknown_merchant
from .connections import entry
from .model import Change, Graph, Park
from .outgoing import SOURCE


def remind(graph: Graph, requested_by: str, event_id: UUID, now: datetime, *, min_gap: timedelta) -> Done | Refusal:
    merchant = graph.merchant
    if merchant is None:
        return unknown_merchant(graph)
    if merchant.completion:
        return Refusal("already_completed", "The merchant already said they had finished: nothing to remind.")
    links, since = graph.links(), graph.connected_since()
    if not links or since is None:
        return Refusal("nothing_connected", "No store is connected yet: there is no setup to finish.")
    if merchant.last_reminded_at and now - merchant.last_reminded_at < min_gap:
        return Refusal("reminded_recently", f"A reminder was sent at {merchant.last_reminded_at:%Y-%m-%d %H:%M} "
                                            "UTC; the next one can go a day after that.")
    event = CloudEvent(data=SetupReminderRequested(merchant_id=graph.merchant_id, merchant_name=merchant.name,
                                                   links=links, connected_since=since, requested_by=requested_by),
                       source=SOURCE, id=event_id, time=now, correlation_id=merchant.correlation_id)
    change = record_reminder(graph, event)
    assert isinstance(change, Change)
    return Done(graph.merchant_id, event_id, now, requested_by, change)


def record_reminder(graph: Graph, event: CloudEvent) -> Change | Park:
    data = event.data
    assert isinstance(data, SetupReminderRequested)
    merchant = graph.merchant
    if merchant is None:
        return Park("KeyValidated for the merchant")
    reminded = replace(merchant, reminders_sent=merchant.reminders_sent + 1, last_reminded_at=event.time)
    line = entry(event, f"Reminder to finish the setup emailed to the merchant ({len(data.links)} store(s) "
                        "connected)", data.requested_by)
    return Change(merchant=reminded, timeline=(line,), publish=(event,))
