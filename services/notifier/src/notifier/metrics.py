"""The notifier's business counters, in the process-wide registry every service's `/metrics` renders."""

from prometheus_client import Counter

from shared.metrics import REGISTRY

NOTIFICATIONS = Counter("notifications_total", "Notification attempts (helpdesk and merchant) by channel and outcome",
                        ["channel", "outcome"], registry=REGISTRY)
PARKED = Counter("notifications_parked_total", "Deliveries parked (schedule exhausted or refused for good): each "
                 "waits for a re-drive; alerted on (deploy/k8s/overlays/production/monitoring.yaml)", ["channel"],
                 registry=REGISTRY)
REMINDERS_STOPPED = Counter("merchant_reminders_stopped_total",
                            "Incidents whose pending reminders a merchant stopped with the link in the email",
                            registry=REGISTRY)
