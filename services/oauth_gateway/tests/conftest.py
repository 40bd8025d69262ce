"""The `stack` fixture for every test in this folder: the gateway over real HTTP with its sandboxes, Kafka and
PostgreSQL (stack.py; tests/security imports it from there by name)."""

from .stack import stack  # noqa: F401 - fixture
