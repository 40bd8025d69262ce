"""The registry's business counters, in the process-wide registry every service's `/metrics` renders."""

from prometheus_client import Counter

from shared.contracts import Event, OrgDisconnected, OrgSelected, StoreConnected, StoreDisconnected
from shared.metrics import REGISTRY

REGISTRY_EVENTS = Counter("registry_events_total", "Connection events the registry handled",
                          ["type", "outcome"], registry=REGISTRY)
CONNECTIONS = Counter("connections_total", "Stores connected and organisations selected", ["kind"],
                      registry=REGISTRY)
DISCONNECTS = Counter("disconnects_total", "Stores and organisations disconnected, by reason", ["kind", "reason"],
                      registry=REGISTRY)


def count_registry_event(data: Event, outcome: str) -> None:
    """Every event by type and outcome; applied connections by kind, applied disconnects by kind and reason."""
    REGISTRY_EVENTS.labels(type(data).__name__, outcome).inc()
    if outcome != "applied":
        return
    match data:
        case StoreConnected():
            CONNECTIONS.labels("store").inc()
        case OrgSelected():
            CONNECTIONS.labels("organisation").inc()
        case StoreDisconnected(reason=reason):
            DISCONNECTS.labels("store", reason.value).inc()
        case OrgDisconnected(reason=reason):
            DISCONNECTS.labels("org", reason.value).inc()
