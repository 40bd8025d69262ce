"""Root pytest configuration: real Kafka and PostgreSQL fixtures (env → testcontainers → local processes)."""

pytest_plugins = ["local_infra.pytest_plugin"]
