# The two commands a newcomer needs (see README): `make run` and `make test`.
.PHONY: run test docs bootstrap bench

bootstrap:
	@tools/bootstrap.sh

run: bootstrap
	@uv run --frozen python -m local_infra.stack

test: bootstrap
	@uv run --frozen pytest

docs: bootstrap
	@uv run --frozen python -m tools.contract_docs
	@uv run --frozen python -m tools.kafka_acls

# Services vs a bare aiokafka + asyncpg baseline (bench/): prints a table, writes artifacts/bench/latest.json.
bench: bootstrap
	@uv run --frozen python -m bench $(BENCH_ARGS)
