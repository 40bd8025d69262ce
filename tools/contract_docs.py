"""Generate the committed contract documents: `docs/contracts/<type>.json` (JSON Schemas of the events),
`docs/asyncapi/<service>.json` (AsyncAPI 3.0: what each service's runtime declares it publishes and consumes,
with the CloudEvents headers, the record key and the topics as deployed, see `shared.contracts.asyncapi`) and
`docs/openapi/platform-api.json` (the gateway's internal platform API, OpenAPI 3.1).

`make docs` writes them; `tests/test_contract_docs.py` fails when the committed files drift from the code (or
from the topic definitions in deploy/k8s/base), and `tests/test_asyncapi.py` runs the official AsyncAPI parser.
"""

import importlib
import json
import sys
from pathlib import Path
from typing import Any

import yaml

from shared.contracts.asyncapi import KafkaTopic, Platform
from shared.contracts.schemas import json_schemas

ROOT = Path(__file__).resolve().parent.parent
K8S = ROOT / "deploy" / "k8s" / "base"
SERVICES = ("key_validator", "oauth_gateway", "connection_registry", "notifier")
VERSION = "1"


def asyncapi_documents() -> dict[str, dict[str, Any]]:
    runtimes = {}
    for service in SERVICES:
        main = importlib.import_module(f"{service}.main")
        settings = importlib.import_module(f"{service}.settings")
        runtimes[service] = main.build_app(settings.example_settings()).state.runtime
    publishers = {event.type: service for service, runtime in runtimes.items() for event in runtime.published}
    platform = Platform(bootstrap_servers=_deployed_bootstrap_servers(), topics=deployed_topics(),
                        publishers=publishers)
    return {service: runtime.asyncapi(VERSION, platform) for service, runtime in runtimes.items()}


def deployed_topics() -> dict[str, KafkaTopic]:
    """The topics as deploy/k8s/base defines them (Strimzi KafkaTopic resources)."""
    found = {}
    for resource in yaml.safe_load_all((K8S / "topics" / "kafka-topics.yaml").read_text()):
        if resource and resource["kind"] == "KafkaTopic":
            spec = resource["spec"]
            found[spec["topicName"]] = KafkaTopic(
                partitions=spec["partitions"], replicas=spec["replicas"],
                retention_ms=int(spec["config"]["retention.ms"]),
                cleanup_policy=tuple(spec["config"]["cleanup.policy"].split(",")))
    return found


def _deployed_bootstrap_servers() -> str:
    """The one Kafka address the base manifests give every service."""
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    literals = [literal for generator in kustomization["configMapGenerator"] for literal in generator["literals"]]
    addresses = {literal.split("=", 1)[1] for literal in literals if "_KAFKA__BOOTSTRAP_SERVERS=" in literal}
    if len(addresses) != 1:
        raise ValueError(f"expected one Kafka address in deploy/k8s/base, found {sorted(addresses)}")
    return addresses.pop()


def platform_openapi() -> dict[str, Any]:
    from oauth_gateway.main import build_app
    from oauth_gateway.settings import example_settings

    return build_app(example_settings()).state.platform_api.openapi()


def expected_files() -> dict[Path, str]:
    files = {ROOT / "docs" / "contracts" / f"{type_}.json": schema for type_, schema in json_schemas().items()}
    files |= {ROOT / "docs" / "asyncapi" / f"{service}.json": doc for service, doc in asyncapi_documents().items()}
    files[ROOT / "docs" / "openapi" / "platform-api.json"] = platform_openapi()
    return {path: json.dumps(content, indent=2, sort_keys=True) + "\n" for path, content in files.items()}


def main() -> int:
    for path, text in expected_files().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
