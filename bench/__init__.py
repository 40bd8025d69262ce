"""Benchmarks: the services against a bare aiokafka + asyncpg baseline (issue #10). `make bench`."""
