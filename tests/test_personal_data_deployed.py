"""Every deployment of the four services seals personal data (docs/personal-data.md): production points each at
Vault over HTTPS with a token from the secret store (a pod without it is not started); docker-compose at the
Vault sandbox. A service left out would publish names and emails in clear, for ever."""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
PRODUCTION = ROOT / "deploy" / "k8s" / "overlays" / "production"
SERVICES = {"OAUTH_GATEWAY": "oauth-gateway", "KEY_VALIDATOR": "key-validator",
            "CONNECTION_REGISTRY": "connection-registry", "NOTIFIER": "notifier"}


def test_production_points_every_service_at_vault_over_https_and_requires_its_token():
    kustomization = yaml.safe_load((PRODUCTION / "kustomization.yaml").read_text())
    literals = dict(literal.split("=", 1) for generator in kustomization["configMapGenerator"]
                    for literal in generator.get("literals", []))
    required = {env["name"]: env["valueFrom"]["secretKeyRef"]
                for doc in yaml.safe_load_all((PRODUCTION / "required-secrets.yaml").read_text()) if doc
                for container in doc["spec"]["template"]["spec"]["containers"] for env in container.get("env", [])}
    stored = {item["secretKey"] for doc in yaml.safe_load_all((PRODUCTION / "external-secrets.yaml").read_text())
              if doc for item in doc["spec"].get("data", [])}

    for prefix, name in SERVICES.items():
        assert literals[f"{prefix}_PERSONAL_DATA__VAULT_URL"].startswith("https://")
        token = f"{prefix}_PERSONAL_DATA__VAULT_TOKEN"
        assert required[token] == {"name": name, "key": token} and token in stored
        assert not [k for k in literals if k.startswith(prefix) and "VAULT_TOKEN" in k]   # never a literal


def test_compose_points_every_service_at_the_vault_sandbox():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    for prefix, name in SERVICES.items():
        env = compose["services"][name]["environment"]
        assert env[f"{prefix}_PERSONAL_DATA__VAULT_URL"] == "http://vault-sandbox:8750"
        assert "VAULT_SANDBOX_ROOT_TOKEN" in env[f"{prefix}_PERSONAL_DATA__VAULT_TOKEN"]
    assert compose["services"]["vault-sandbox"]["environment"]["VAULT_SANDBOX_STATE_FILE"].startswith("/var/lib/")
