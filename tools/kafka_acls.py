"""Production Kafka users and their ACLs, derived from what each service's runtime declares.

Each service may write only the topics it declares with `runtime.publishes` (plus its own dead-letter topic) and
read only those it subscribes with `runtime.consumes`, in its own consumer group: the same declarations the
AsyncAPI documents (docs/asyncapi) are rendered from. A forged OrgSelected or SetupFinalised from any other
service's credentials is refused by the broker (TopicAuthorizationFailed).

`make docs` writes deploy/k8s/overlays/production/kafka-users.yaml; tests/test_k8s_manifests.py fails when the
rendered KafkaUsers drift from the code, and tests/test_kafka_security.py applies the same ACLs to a real broker.
"""

import importlib
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from shared.contracts.topics import dead_letter_topic

ROOT = Path(__file__).resolve().parent.parent
USERS_FILE = ROOT / "deploy" / "k8s" / "overlays" / "production" / "kafka-users.yaml"
CLUSTER = "platform-kafka"
SERVICES = {"oauth_gateway": "oauth-gateway", "key_validator": "key-validator",
            "connection_registry": "connection-registry", "notifier": "notifier"}
"""service module -> Deployment name; its KafkaUser (and the Secret Strimzi writes its password to) is
`<name>-kafka`, apart from the service's own Secret."""
OPS_USER = "ops"
"""The one super user (the Kafka CR's `superUsers`): tools.ops and the registry rebuild, run by on-call."""
LAG_USER = "keda"
"""KEDA's lag scaler (TriggerAuthentication kafka-lag): Describe only, on the consumer groups and their topics."""


@dataclass(frozen=True, order=True, slots=True)
class Acl:
    """Allow `operations` on one literal resource (`topic` or `group`)."""

    resource: str
    name: str
    operations: tuple[str, ...]


def kafka_user(service: str) -> str:
    return f"{SERVICES[service]}-kafka"


def expected_acls() -> dict[str, tuple[Acl, ...]]:
    """Every KafkaUser but ops -> its ACLs: the services' and the lag scaler's."""
    services = service_acls()
    return services | {LAG_USER: lag_acls(services)}


def lag_acls(services: dict[str, tuple[Acl, ...]]) -> tuple[Acl, ...]:
    """Reading a group's lag (OffsetFetch, ListOffsets) needs Describe on the group and its topics, nothing more."""
    groups = {acl.name for acls in services.values() for acl in acls if acl.resource == "group"}
    read = {acl.name for acls in services.values() for acl in acls
            if acl.resource == "topic" and "Read" in acl.operations}
    return tuple(sorted([Acl("group", group, ("Describe",)) for group in groups]
                        + [Acl("topic", topic, ("Describe",)) for topic in read]))


def service_acls() -> dict[str, tuple[Acl, ...]]:
    """KafkaUser name -> its ACLs, from each service's runtime (built as `make docs` builds them)."""
    found = {}
    for service in SERVICES:
        main = importlib.import_module(f"{service}.main")
        settings = importlib.import_module(f"{service}.settings")
        runtime = main.build_app(settings.example_settings()).state.runtime
        found[kafka_user(service)] = acls_of({e.topic for e in runtime.published}, {e.topic for e in runtime.consumed},
                                             runtime.consumer_group)
    return found


def acls_of(writes: set[str], reads: set[str], group: str) -> tuple[Acl, ...]:
    """Write+Describe on the topics it publishes, Read+Describe on those it consumes; a consumer also reads its
    group and writes its dead-letter topic (`shared.delivery.consumer.DeadLetters`)."""
    if reads:
        writes = writes | {dead_letter_topic(group)}
    operations: dict[str, set[str]] = {}
    for topic in writes:
        operations.setdefault(topic, {"Describe"}).add("Write")
    for topic in reads:
        operations.setdefault(topic, {"Describe"}).add("Read")
    acls = [Acl("topic", topic, tuple(sorted(ops))) for topic, ops in operations.items()]
    if reads:
        acls.append(Acl("group", group, ("Read",)))
    return tuple(sorted(acls))


def kafka_users(acls: dict[str, tuple[Acl, ...]]) -> list[dict[str, Any]]:
    """Strimzi KafkaUser resources: SCRAM-SHA-512 (Strimzi generates the password into a Secret of the same name)
    and `simple` authorization with exactly `acls`; plus the ops super user (no ACLs needed)."""
    users = [_user(OPS_USER, None)]
    users += [_user(name, {"type": "simple", "acls": [
        {"resource": {"type": acl.resource, "name": acl.name, "patternType": "literal"},
         "operations": list(acl.operations), "host": "*"} for acl in user_acls]})
        for name, user_acls in sorted(acls.items())]
    return users


def _user(name: str, authorization: dict[str, Any] | None) -> dict[str, Any]:
    spec: dict[str, Any] = {"authentication": {"type": "scram-sha-512"}}
    if authorization:
        spec["authorization"] = authorization
    return {"apiVersion": "kafka.strimzi.io/v1beta2", "kind": "KafkaUser",
            "metadata": {"name": name, "labels": {"strimzi.io/cluster": CLUSTER}}, "spec": spec}


def acls_of_users(users: list[dict[str, Any]]) -> dict[str, tuple[Acl, ...]]:
    """The inverse of `kafka_users` (the ops user left out): what rendered KafkaUser resources allow."""
    return {user["metadata"]["name"]: tuple(sorted(
        Acl(acl["resource"]["type"], acl["resource"]["name"], tuple(sorted(acl["operations"])))
        for acl in user["spec"].get("authorization", {}).get("acls", [])))
        for user in users if user["kind"] == "KafkaUser" and user["metadata"]["name"] != OPS_USER}


def committed_acls() -> dict[str, tuple[Acl, ...]]:
    """The ACLs of the committed kafka-users.yaml (what the production overlay deploys)."""
    return acls_of_users([doc for doc in yaml.safe_load_all(USERS_FILE.read_text()) if doc])


def users_yaml(acls: dict[str, tuple[Acl, ...]] | None = None) -> str:
    header = ("# GENERATED by `make docs` (tools/kafka_acls.py) from what each service's runtime publishes and\n"
              "# consumes; tests/test_k8s_manifests.py fails when it drifts. Do not edit by hand.\n")
    return header + yaml.safe_dump_all(kafka_users(acls or expected_acls()), sort_keys=False, explicit_start=True)


def main() -> int:
    USERS_FILE.write_text(users_yaml())
    print(f"wrote {USERS_FILE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
