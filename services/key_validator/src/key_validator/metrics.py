"""The key validator's business counters, in the process-wide registry every service's `/metrics` renders."""

from prometheus_client import Counter

from shared.metrics import REGISTRY

VALIDATIONS = Counter("key_validations_total", "Cloud POS key validations by outcome", ["outcome"],
                      registry=REGISTRY)
