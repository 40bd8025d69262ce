"""deploy/k8s, checked offline: every overlay renders (`kubectl kustomize`), passes `kubernetes-validate --strict`,
and keeps the operability rules (probes, limits, non-root read-only pods, PDBs, HPA for the HTTP services,
KEDA on consumer-group lag for the consumers, a KafkaTopic for every topic and dead-letter topic)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest
import yaml

from shared.contracts import topics
from shared.contracts.topics import dead_letter_topic

from .test_deployment_files import SERVICES

ROOT = Path(__file__).resolve().parents[1]
K8S = ROOT / "deploy" / "k8s"
OVERLAYS = sorted(p.name for p in (K8S / "overlays").iterdir() if p.is_dir())
K8S_VERSION = "1.33.0"
CONSUMERS = {"connection_registry": {topics.KEY_VALIDATED, topics.STORE_CONNECTED, topics.ORG_SELECTED,
                                     topics.ORG_DISCONNECTED, topics.CONNECTION_BROKEN, topics.CONNECTION_RESTORED,
                                     topics.CONSENT_ABANDONED},
             "notifier": {topics.SETUP_COMPLETED, topics.CONNECTIONS_CHANGED, topics.CONNECTION_BROKEN,
                          topics.CONNECTION_RESTORED, topics.SETUP_REMINDER_REQUESTED, topics.MERCHANT_ERASED}}
HTTP_ONLY = set(SERVICES) - set(CONSUMERS)
# HTTP services (scaled on CPU) that also consume MerchantErased (docs/erasure.md), so have dead letters too
DEAD_LETTER_GROUPS = set(CONSUMERS) | {"oauth_gateway", "key_validator"}
ALL_TOPICS = {v for k, v in vars(topics).items() if k.isupper() and isinstance(v, str)}


def _kustomize() -> list[str]:
    """`kubectl kustomize`, a `kustomize` on PATH, or the one `make bootstrap` builds into .tools/bin.
    Missing all three skips locally but fails in CI, where the manifests must be validated."""
    if kubectl := shutil.which("kubectl"):
        return [kubectl, "kustomize"]
    built = Path(__file__).resolve().parent.parent / ".tools" / "bin" / "kustomize"
    if kustomize := shutil.which("kustomize") or (str(built) if built.exists() else None):
        return [kustomize, "build"]
    if os.environ.get("CI"):
        pytest.fail("neither kubectl nor kustomize is installed (tools/bootstrap.sh builds kustomize)")
    pytest.skip("neither kubectl nor kustomize is installed (run `make bootstrap`)")


@cache
def rendered(overlay: str) -> str:
    result = subprocess.run([*_kustomize(), str(K8S / "overlays" / overlay)], capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


def resources(overlay: str) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(rendered(overlay)) if doc]


def by_kind(overlay: str, kind: str) -> dict[str, dict]:
    return {doc["metadata"]["name"]: doc for doc in resources(overlay) if doc["kind"] == kind}


def validate(path: Path) -> subprocess.CompletedProcess[str]:
    cli = Path(sys.executable).with_name("kubernetes-validate")
    return subprocess.run([str(cli), "--strict", "-k", K8S_VERSION, str(path)], capture_output=True, text=True,
                          timeout=120, check=False)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_passes_strict_schema_validation(overlay: str, tmp_path: Path) -> None:
    manifest = tmp_path / f"{overlay}.yaml"
    manifest.write_text(rendered(overlay))
    result = validate(manifest)
    output = result.stdout + result.stderr
    assert result.returncode == 0 and "ERROR" not in output and "failed" not in output, output
    assert output.count("passed for resource") >= 4 * 4, output  # Deployment, Service, PDB, scaler x4


def test_strict_validation_catches_an_unknown_field(tmp_path: Path) -> None:
    """Guards the guard: a typo in a field must fail, not pass silently."""
    deployment = next(doc for doc in resources("local") if doc["kind"] == "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["portz"] = []
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(deployment))
    assert validate(bad).returncode != 0


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_service_has_a_safe_deployment_service_and_pdb(overlay: str) -> None:
    deployments, services = by_kind(overlay, "Deployment"), by_kind(overlay, "Service")
    pdbs = by_kind(overlay, "PodDisruptionBudget")
    for module, (_, name, port) in SERVICES.items():
        pod = deployments[name]["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
        assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
        assert container["ports"][0]["containerPort"] == port
        # probes and Prometheus on the internal listener; the Service (public traffic) never exposes it
        assert {p["name"]: p["containerPort"] for p in container["ports"]}["internal"] == 9100
        assert {container[probe]["httpGet"]["port"] for probe in ("startupProbe", "livenessProbe",
                                                                 "readinessProbe")} == {"internal"}
        assert deployments[name]["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"] == "9100"
        assert {"name": f"{module.upper()}_HTTP__INTERNAL_PORT", "value": "9100"} in container["env"]
        assert 9100 not in {p.get("targetPort") for p in services[name]["spec"]["ports"]} | {
            p["port"] for p in services[name]["spec"]["ports"]}
        assert {"cpu", "memory"} <= set(container["resources"]["requests"]) & set(container["resources"]["limits"])
        assert pod["securityContext"]["runAsNonRoot"] and pod["securityContext"]["runAsUser"] == 10001
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        assert {e["name"] for e in container["env"]} >= {f"{module.upper()}_HTTP__PORT"}
        assert not any("value" in e and "postgresql://" in str(e["value"]) for e in container["env"]), \
            "database URLs (with passwords) come from the Secret, never inline"
        assert any("secretRef" in source for source in container["envFrom"])
        assert services[name]["spec"]["ports"][0]["port"] == port
        assert pdbs[name]["spec"]["selector"]["matchLabels"] == deployments[name]["spec"]["selector"]["matchLabels"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_http_services_scale_on_cpu_and_consumers_on_lag(overlay: str) -> None:
    hpas, scaled = by_kind(overlay, "HorizontalPodAutoscaler"), by_kind(overlay, "ScaledObject")
    assert set(hpas) == {SERVICES[m][1] for m in HTTP_ONLY}
    assert set(scaled) == {SERVICES[m][1] for m in CONSUMERS}
    kafka_topics = by_kind(overlay, "KafkaTopic").values()
    partitions = {doc["spec"]["topicName"]: doc["spec"]["partitions"] for doc in kafka_topics}
    for module, consumed in CONSUMERS.items():
        spec = scaled[SERVICES[module][1]]["spec"]
        assert spec["scaleTargetRef"]["name"] == SERVICES[module][1]
        triggers = spec["triggers"]
        assert {t["type"] for t in triggers} == {"kafka"}
        assert {t["metadata"]["consumerGroup"] for t in triggers} == {module}
        assert {t["metadata"]["topic"] for t in triggers} == consumed
        assert all(isinstance(t["metadata"]["lagThreshold"], str) for t in triggers)
        assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"] <= min(partitions[t] for t in consumed), \
            "more consumers than partitions would sit idle"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_topic_and_dead_letter_topic_is_defined(overlay: str) -> None:
    defined = {doc["spec"]["topicName"]: doc["spec"] for doc in by_kind(overlay, "KafkaTopic").values()}
    assert set(defined) == ALL_TOPICS | {dead_letter_topic(group) for group in DEAD_LETTER_GROUPS}
    for topic, spec in defined.items():
        retention = int(spec["config"]["retention.ms"])
        if topic in ALL_TOPICS:
            assert retention == -1, f"{topic}: the registry rebuild replays whole topics (retention.ms=-1)"
        else:
            assert retention >= 7 * 24 * 3600 * 1000, f"{topic}: dead letters must outlive a week of holidays"
        assert spec["partitions"] >= 1
        assert int(spec["config"]["min.insync.replicas"]) <= spec["replicas"]
