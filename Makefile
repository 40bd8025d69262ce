# The two commands a newcomer needs (see README): `make run` and `make test`.
.PHONY: run test docs bootstrap

bootstrap:
	@tools/bootstrap.sh

run: bootstrap
	@uv run --frozen python -m local_infra.stack

test: bootstrap
	@uv run --frozen pytest

docs: bootstrap
	@uv run --frozen python -m tools.contract_docs
