"""The registry's rules: pure and synchronous (no I/O); each returns a decision the handlers apply.

Ordering and delivery rules (what happens to events that cannot be applied as they come):

1. Duplicates: every event id is claimed once (delivery inbox); a redelivered event changes nothing.
2. Per merchant, one at a time: the handlers take a per-merchant lock, so the consumed topics' consumers never
   interleave inside one merchant's graph.
3. Unknown or early -> PARKED, never dropped, never dead-lettered: an event that names a merchant or store
   no KeyValidated has listed yet, an OrgSelected whose grant no StoreConnected has announced, or an
   OrgDisconnected for an organisation never authorised, is claimed and stored in `parked_events` (with
   what it waits for). After every event applied for that merchant, its parked events are retried in event
   time order until none applies; a parked event that finally applies writes its timeline line then.
   Events that stay parked are visible on the helpdesk page and in `parked_events`.
4. Late -> recorded, not applied: a store's (or organisation's) state only moves forward in event time. An
   event older than the row's last change (it was delayed on its topic while a newer one was applied) is
   written to the timeline as `superseded` and changes nothing, so the graph converges whatever the
   arrival order across topics.
5. Poison (undecodable, schema-invalid, wrong topic) is refused by the delivery kit to `DeadLetter.<group>`.
6. Health (`health.py`): ConnectionBroken marks a connected store `reconnect_needed` without touching the map;
   ConnectionRestored (same incident, or any later restore) clears it. A break that arrives after its
   restore, or after a newer restore or link change, is recorded and changes nothing.
7. Abandoned consents (`consents.py`): ConsentAbandoned puts a store still waiting for a selection through that
   grant back to eligible and disconnects the released organisations nothing else uses; the map is unchanged.
"""

from collections.abc import Callable

from shared.contracts import (CloudEvent, ConnectionBroken, ConnectionRestored, ConsentAbandoned, Event, KeyValidated,
                              OrgDisconnected, OrgSelected, SetupCompleted, SetupFinalised, SetupReminderRequested,
                              StoreConnected)

from .completion import Done, Refusal, complete, finalise, record_completion, record_finalisation, resend
from .connections import key_validated, org_disconnected, org_selected, store_connected
from .consents import consent_abandoned
from .health import connection_broken, connection_restored, reason_in_words
from .model import (RECONNECT_NEEDED, Change, Completion, Finalisation, Grant, Graph, Incident, Merchant,
                    Organisation, OrgState, Park, StoreRecord, StoreState, TimelineEntry)
from .outgoing import SOURCE
from .reminders import record_reminder, remind

Rule = Callable[[Graph, CloudEvent], Change | Park]

RULES: dict[type[Event], Rule] = {
    KeyValidated: key_validated,
    StoreConnected: store_connected,
    OrgSelected: org_selected,
    OrgDisconnected: org_disconnected,
    ConnectionBroken: connection_broken,
    ConnectionRestored: connection_restored,
    ConsentAbandoned: consent_abandoned,
    # The registry's own merchant-level facts, applied when a rebuild reads them back from Kafka.
    SetupCompleted: record_completion,
    SetupFinalised: record_finalisation,
    SetupReminderRequested: record_reminder,
}

__all__ = [
    "RECONNECT_NEEDED", "RULES", "SOURCE", "Change", "Completion", "Done", "Finalisation", "Grant", "Graph",
    "Incident", "Merchant", "OrgState", "Organisation", "Park", "Refusal", "Rule", "StoreRecord", "StoreState",
    "TimelineEntry", "complete", "finalise", "reason_in_words", "remind", "resend",
]
