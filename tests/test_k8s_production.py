"""The production overlay's protections (issue 21), checked offline on the rendered manifests (tests/
test_k8s_manifests.py renders and validates them with `kubernetes-validate --strict`; the CRDs here, Strimzi,
External Secrets, KEDA and the Prometheus Operator, have no schema offline, so their structure is checked here):

- Kafka: one TLS + SCRAM-SHA-512 listener, `simple` authorization, `ops` the only super user; every service
  connects with SASL_SSL as its own KafkaUser, whose ACLs are exactly what its code publishes and consumes
  (`tools.kafka_acls`; tests/test_kafka_security.py enforces the same ACLs on a real broker).
- NetworkPolicies: default deny, then only the product's flows (walked here with a small evaluator).
- Secrets: from the secret store (ExternalSecret) or Strimzi, never literal values.
- Alerts: every PrometheusRule expression parses (promql-parser) and names only metrics something exports.
"""

from __future__ import annotations

import base64
import importlib
import ipaddress
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import promql_parser
import pytest

from shared.settings import KafkaSettings
from tools import kafka_acls

from .test_deployment_files import SERVICES
from .test_k8s_manifests import by_kind

OVERLAY = "production"
NAMESPACE = "cloudpos-xero"
EXTERNAL_METRICS = {"kafka_consumergroup_lag"}
"""Exported by Strimzi's Kafka Exporter (enabled in kafka.yaml), not by the services."""
ALERTED = {"kafka_consumergroup_lag", "dead_letters_total", "notifications_parked_total",
           "outbox_oldest_age_seconds", "registry_events_total"}
"""Consumer lag, dead-letter growth, parked notifications, outbox age, broken connections."""


@cache
def _kind(kind: str) -> dict[str, dict[str, Any]]:
    """The rendered production overlay's resources of one kind, by name (parsed once)."""
    return by_kind(OVERLAY, kind)


@cache
def _expected_acls() -> dict[str, tuple[kafka_acls.Acl, ...]]:
    return kafka_acls.expected_acls()   # builds every service's app: once


def _deployment(module: str) -> dict[str, Any]:
    return _kind("Deployment")[SERVICES[module][1]]


def _platform_config() -> dict[str, str]:
    (config,) = [c for c in _kind("ConfigMap").values() if c["metadata"]["name"].startswith("platform")]
    return config["data"]


# --- Kafka ---------------------------------------------------------------------------------------------------------

def test_kafka_users_allow_exactly_what_the_code_publishes_and_consumes() -> None:
    """A service that starts publishing a new topic (or consuming one) fails here until `make docs` regenerates
    kafka-users.yaml: the deployed ACLs never drift from the declarations."""
    rendered = list(_kind("KafkaUser").values())
    assert kafka_acls.acls_of_users(rendered) == _expected_acls()
    assert kafka_acls.USERS_FILE.read_text() == kafka_acls.users_yaml(_expected_acls()), "run `make docs`"
    for user in rendered:
        assert user["spec"]["authentication"] == {"type": "scram-sha-512"}
        assert user["metadata"]["labels"]["strimzi.io/cluster"] == kafka_acls.CLUSTER
        for acl in user["spec"].get("authorization", {}).get("acls", []):
            assert acl["resource"]["patternType"] == "literal", "no prefix or wildcard grants"


def test_each_user_writes_only_its_own_topics() -> None:
    """No two services may write the same topic, and nobody but the publisher may write it."""
    writers: dict[str, set[str]] = {}
    for user, acls in _expected_acls().items():
        for acl in acls:
            if "Write" in acl.operations:
                writers.setdefault(acl.name, set()).add(user)
    assert all(len(users) == 1 for users in writers.values()), writers
    assert not any(kafka_acls.LAG_USER in users for users in writers.values())
    assert writers["SetupFinalised"] == {kafka_acls.kafka_user("connection_registry")}
    assert writers["OrgSelected"] == {kafka_acls.kafka_user("oauth_gateway")}


def test_the_cluster_takes_only_tls_and_scram_with_acls() -> None:
    (kafka,) = _kind("Kafka").values()
    spec = kafka["spec"]["kafka"]
    assert [(listener["port"], listener["tls"], listener["authentication"]["type"])
            for listener in spec["listeners"]] == [(9093, True, "scram-sha-512")]
    assert spec["authorization"] == {"type": "simple", "superUsers": [kafka_acls.OPS_USER]}
    assert spec["config"]["allow.everyone.if.no.acl.found"] is False
    assert spec["config"]["auto.create.topics.enable"] is False
    assert "kafkaExporter" in kafka["spec"], "the lag alert reads kafka_consumergroup_lag from it"
    assert {"topicOperator", "userOperator"} <= set(kafka["spec"]["entityOperator"])
    assert kafka_acls.OPS_USER in _kind("KafkaUser")


@pytest.mark.parametrize("module", sorted(SERVICES))
def test_every_service_signs_in_to_kafka_as_its_own_user(module: str) -> None:
    """The settings the pod gets build a SASL_SSL client on 9093 (KafkaSettings validates them as the pod would)."""
    prefix = f"{module.upper()}_KAFKA__"
    config = {key.removeprefix(prefix).lower(): value for key, value in _platform_config().items()
              if key.startswith(prefix)}
    (container,) = _deployment(module)["spec"]["template"]["spec"]["containers"]
    refs = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"] if "valueFrom" in e}
    user = kafka_acls.kafka_user(module)
    assert refs[f"{prefix}SASL_PASSWORD"] == {"name": user, "key": "password"}, "Strimzi writes it"
    settings = KafkaSettings(**config, sasl_password="from-the-secret")
    assert (settings.security_protocol, settings.sasl_username) == ("SASL_SSL", user)
    assert settings.bootstrap_servers.endswith(":9093")
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in _deployment(module)["spec"]["template"]["spec"]["volumes"]}
    assert str(settings.ssl_ca_file).startswith(mounts["kafka-cluster-ca"])
    assert volumes["kafka-cluster-ca"]["secret"]["secretName"] == f"{kafka_acls.CLUSTER}-cluster-ca-cert"


def test_keda_reads_lag_over_the_secured_listener_as_the_lag_user() -> None:
    bootstrap = {v for k, v in _platform_config().items() if k.endswith("_KAFKA__BOOTSTRAP_SERVERS")}
    (auth,) = _kind("TriggerAuthentication").values()
    targets = {ref["parameter"]: (ref["name"], ref["key"]) for ref in auth["spec"]["secretTargetRef"]}
    assert targets["password"] == (kafka_acls.LAG_USER, "password")
    assert targets["ca"] == (f"{kafka_acls.CLUSTER}-cluster-ca-cert", "ca.crt")
    literal = _kind("Secret")[targets["username"][0]]["data"]
    assert {k: base64.b64decode(v).decode() for k, v in literal.items()} == {
        "sasl": "scram_sha512", "tls": "enable", "username": kafka_acls.LAG_USER}
    for scaled in _kind("ScaledObject").values():
        for trigger in scaled["spec"]["triggers"]:
            assert {trigger["metadata"]["bootstrapServers"]} == bootstrap
            assert trigger["authenticationRef"]["name"] == auth["metadata"]["name"]


# --- Secrets -------------------------------------------------------------------------------------------------------

def test_secrets_come_from_the_secret_store_or_strimzi_never_literals() -> None:
    external = {e["spec"]["target"]["name"]: e for e in _kind("ExternalSecret").values()}
    strimzi = set(_kind("KafkaUser")) | {f"{kafka_acls.CLUSTER}-cluster-ca-cert"}
    for e in external.values():
        assert e["spec"]["secretStoreRef"]["kind"] == "ClusterSecretStore"
    for module in SERVICES:
        (container,) = _deployment(module)["spec"]["template"]["spec"]["containers"]
        assert {s["secretRef"]["name"] for s in container["envFrom"] if "secretRef" in s} <= set(external)
        for env in container["env"]:
            if ref := env.get("valueFrom", {}).get("secretKeyRef"):
                assert ref["name"] in set(external) | strimzi, ref
                held = {d["secretKey"] for d in external.get(ref["name"], {"spec": {"data": []}})["spec"]["data"]}
                assert ref["name"] in strimzi or ref["key"] in held or ref.get("optional"), ref
            assert "value" not in env or not any(word in env["name"] for word in ("SECRET", "PASSWORD", "TOKEN"))
    assert set(_kind("Secret")) == {"keda-kafka-settings"}, "the one literal Secret holds no secret"


# --- Alerts --------------------------------------------------------------------------------------------------------

def _exported_metrics() -> set[str]:
    """Every sample name the services' registries can export (their metrics modules register at import)."""
    from shared.metrics import REGISTRY

    for module in SERVICES:
        importlib.import_module(f"{module}.main")
    suffixes = {"counter": ("_total", "_created"), "gauge": ("",), "histogram": ("_bucket", "_sum", "_count"),
                "summary": ("_sum", "_count"), "info": ("_info",)}
    return {family.name + suffix for family in REGISTRY.collect() for suffix in suffixes.get(family.type, ("",))}


def _metric_names(node: Any) -> set[str]:
    if type(node).__name__ == "VectorSelector":
        return {node.name} if node.name else set()
    children = [getattr(node, name, None) for name in ("expr", "lhs", "rhs", "param", "vector_selector")]
    children += list(getattr(node, "args", None) or [])
    return {name for child in children if child is not None for name in _metric_names(child)}


def test_alert_rules_parse_and_name_only_exported_metrics() -> None:
    rules = [rule for doc in _kind("PrometheusRule").values()
             for group in doc["spec"]["groups"] for rule in group["rules"]]
    named = {}
    for rule in rules:
        named[rule["alert"]] = _metric_names(promql_parser.parse(rule["expr"]))
        assert named[rule["alert"]], rule["alert"]
        assert rule["labels"]["severity"] in {"warning", "critical"} and rule["annotations"]["summary"]
    used = set().union(*named.values())
    assert used - _exported_metrics() - EXTERNAL_METRICS == set(), "a rule names a metric nothing exports"
    assert ALERTED <= used


def test_prometheus_scrapes_the_internal_port_every_pod_names() -> None:
    (monitor,) = [m for m in _kind("PodMonitor").values()
                  if m["spec"]["selector"]["matchLabels"] == {"app.kubernetes.io/part-of": "cloudpos-xero"}]
    (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
    for module in SERVICES:
        (container,) = _deployment(module)["spec"]["template"]["spec"]["containers"]
        assert endpoint["port"] in {p["name"] for p in container["ports"]}, f"{module}: no `{endpoint['port']}` port"


# --- NetworkPolicies -----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Pod:
    namespace: str
    labels: dict[str, str] = field(hash=False)
    ports: dict[str, int] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class Address:
    ip: str


@cache
def _pods() -> dict[str, Pod]:
    pods = {}
    for module, (_, name, _) in SERVICES.items():
        template = _deployment(module)["spec"]["template"]
        (container,) = template["spec"]["containers"]
        pods[name] = Pod(NAMESPACE, template["metadata"]["labels"],
                         {p["name"]: p["containerPort"] for p in container["ports"]})
        pods[f"{name}-db"] = Pod("databases", {"cnpg.io/cluster": f"{name}-db"}, {"postgres": 5432})
    return pods | {
        "kafka": Pod(NAMESPACE, {"strimzi.io/cluster": "platform-kafka", "strimzi.io/kind": "Kafka",
                                 "strimzi.io/name": "platform-kafka-kafka"}, {"tls": 9093}),
        "intruder": Pod(NAMESPACE, {"app": "intruder"}),
        "elsewhere": Pod("other-team", {"app.kubernetes.io/part-of": "cloudpos-xero"}),
        "ingress": Pod("ingress-nginx", {"app.kubernetes.io/name": "ingress-nginx"}),
        "prometheus": Pod("monitoring", {"app.kubernetes.io/name": "prometheus"}),
        "dns": Pod("kube-system", {"k8s-app": "kube-dns"}, {"dns": 53}),
        "collector": Pod("observability", {"app.kubernetes.io/name": "otel-collector"}, {"otlp": 4318}),
    }


@cache
def _policies() -> list[dict[str, Any]]:
    """The overlay's NetworkPolicies plus the one Strimzi writes for the 9093 listener from networkPolicyPeers."""
    (kafka,) = _kind("Kafka").values()
    strimzi = [{"spec": {"podSelector": {"matchLabels": {"strimzi.io/name": "platform-kafka-kafka"}},
                         "policyTypes": ["Ingress"],
                         "ingress": [{"ports": [{"port": listener["port"]}]} | (  # no peers: open to all
                             {"from": listener["networkPolicyPeers"]} if "networkPolicyPeers" in listener else {})
                                     for listener in kafka["spec"]["kafka"]["listeners"]]}}]
    return list(_kind("NetworkPolicy").values()) + strimzi


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    assert "matchExpressions" not in selector, "the evaluator knows matchLabels only"
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def _peer(peer: dict[str, Any], other: Pod | Address) -> bool:
    if isinstance(other, Address):
        if "ipBlock" not in peer:
            return False
        ip = ipaddress.ip_address(other.ip)
        return ip in ipaddress.ip_network(peer["ipBlock"]["cidr"]) and not any(
            ip in ipaddress.ip_network(cidr) for cidr in peer["ipBlock"].get("except", []))
    if "ipBlock" in peer:
        return False  # pod addresses are private: every ipBlock here excepts the private ranges
    in_namespace = (_selects(peer["namespaceSelector"], {"kubernetes.io/metadata.name": other.namespace})
                    if "namespaceSelector" in peer else other.namespace == NAMESPACE)
    return in_namespace and _selects(peer.get("podSelector", {}), other.labels)


def _rule(rule: dict[str, Any], direction: str, other: Pod | Address, port: int, target: Pod | Address) -> bool:
    named = target.ports if isinstance(target, Pod) else {}
    port_ok = "ports" not in rule or any(p["port"] == port or named.get(p["port"]) == port for p in rule["ports"])
    peers = rule.get(direction)
    return port_ok and (peers is None or any(_peer(peer, other) for peer in peers))


def _side(pod: Pod | Address, kind: str, other: Pod | Address, port: int, target: Pod | Address) -> bool:
    if not isinstance(pod, Pod) or pod.namespace != NAMESPACE:
        return True   # outside the namespace: not these policies' business
    chosen = [p["spec"] for p in _policies() if kind in p["spec"]["policyTypes"]
              and _selects(p["spec"]["podSelector"], pod.labels)]
    direction, rules = ("from", "ingress") if kind == "Ingress" else ("to", "egress")
    return any(_rule(rule, direction, other, port, target) for spec in chosen for rule in spec.get(rules, []))


def allowed(source: str, target: str | Address, port: str | int) -> bool:
    pods = _pods()
    src, dst = pods[source], pods[target] if isinstance(target, str) else target
    number = dst.ports[port] if isinstance(port, str) else port
    return _side(src, "Egress", dst, number, dst) and _side(dst, "Ingress", src, number, dst)


INTERNET = Address("203.0.113.10")
NEEDED = [("ingress", "oauth-gateway", "http"), ("ingress", "connection-registry", "http"),
          ("ingress", "notifier", "http"), ("oauth-gateway", "key-validator", "http"),
          ("oauth-gateway", "connection-registry", "http"), ("connection-registry", "notifier", "http"),
          ("notifier", INTERNET, 587)]
NEEDED += [("prometheus", name, "internal") for _, name, _ in SERVICES.values()]
NEEDED += [(name, target, port) for _, name, _ in SERVICES.values()
           for target, port in (("kafka", 9093), (f"{name}-db", 5432), ("dns", 53), ("collector", 4318),
                                (INTERNET, 443))]
REFUSED = [("ingress", "key-validator", "http"), ("ingress", "oauth-gateway", "platform"),
           ("ingress", "notifier", "internal"), ("key-validator", "connection-registry", "http"),
           ("notifier", "connection-registry", "http"), ("connection-registry", "oauth-gateway", "http"),
           ("key-validator", "notifier", "http"), ("oauth-gateway", "notifier", "http"),
           ("prometheus", "oauth-gateway", "http"),
           ("intruder", "kafka", 9093), ("elsewhere", "kafka", 9093), ("elsewhere", "oauth-gateway", "http"),
           ("intruder", "oauth-gateway", "http"), ("key-validator", INTERNET, 587),
           ("oauth-gateway", INTERNET, 80), ("oauth-gateway", Address("10.1.2.3"), 443),
           ("oauth-gateway", "notifier-db", 5432), ("notifier", "key-validator-db", 5432)]


@pytest.mark.parametrize(("source", "target", "port"), NEEDED, ids=str)
def test_network_policies_allow_the_flows_the_product_needs(source: str, target: str | Address, port: Any) -> None:
    assert allowed(source, target, port)


@pytest.mark.parametrize(("source", "target", "port"), REFUSED, ids=str)
def test_network_policies_refuse_everything_else(source: str, target: str | Address, port: Any) -> None:
    assert not allowed(source, target, port)


def test_the_default_deny_covers_every_pod_both_ways() -> None:
    deny = _kind("NetworkPolicy")["default-deny"]["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    assert all(doc["metadata"].get("namespace") == NAMESPACE for doc in _kind("NetworkPolicy").values())
