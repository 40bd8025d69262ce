"""Contracts and domains carry no I/O: importing them must not load a driver or a web framework.

Each import runs in a fresh interpreter, so what an earlier test loaded cannot hide a regression.
"""

import inspect
import json
import subprocess
import sys

import pytest

IO_PACKAGES = {"aiokafka", "asyncpg", "faststream", "httpx", "fastapi"}
PURE_MODULES = ["shared.contracts", "shared.ports", "shared.delivery", "key_validator.domain", "oauth_gateway.domain",
                "connection_registry.domain", "notifier.domain"]


def packages_loaded_by(statement: str) -> set[str]:
    """The top-level packages a fresh interpreter holds after running `statement`."""
    report = "import json, sys; print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    run = subprocess.run([sys.executable, "-c", f"{statement}\n{report}"], capture_output=True, text=True, check=True)
    return set(json.loads(run.stdout))


@pytest.mark.parametrize("module", PURE_MODULES)
def test_importing_loads_no_driver_or_web_framework(module):
    assert packages_loaded_by(f"import {module}") & IO_PACKAGES == set()


def test_the_delivery_kit_loads_its_drivers_when_first_used():
    assert {"aiokafka", "asyncpg"} <= packages_loaded_by("from shared.delivery import EventConsumer")


def test_a_lazy_name_is_what_its_module_defines_not_the_module_of_the_same_name():
    from shared.delivery import Transaction, transaction

    assert inspect.isfunction(transaction) and Transaction.__module__ == "shared.delivery.transaction"
