"""The service's business counters, in the process-wide registry every service's `/metrics` renders."""

from prometheus_client import Counter

from shared.metrics import REGISTRY

POSTINGS = Counter("daily_sales_postings_total", "Attempts at posting a store's day, by the status they left",
                   ["status"], registry=REGISTRY)
