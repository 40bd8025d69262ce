"""The notifier's business counters, in the process-wide registry every service's `/metrics` renders."""

from prometheus_client import Counter

from shared.metrics import REGISTRY

NOTIFICATIONS = Counter("notifications_total", "Helpdesk notification attempts by channel and outcome",
                        ["channel", "outcome"], registry=REGISTRY)
