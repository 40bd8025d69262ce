"""`make run`: the whole product on this machine, every part its own process, as in production.

Starts Kafka and PostgreSQL (or uses KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL), one database per service,
the third-party sandboxes with their demo data, then the four services; waits until each answers;
prints where to open things; and on Ctrl-C (or SIGTERM) stops everything in reverse order.
Secrets are generated per run and handed to the processes through their environment only.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from local_infra._proc import descendants, die_with_parent, port_open, run_sync, wait_gone
import asyncpg

from local_infra.postgres import with_database
from local_infra.resolve import kafka_bootstrap_servers, postgres_dsn

SERVICES = ("key_validator", "oauth_gateway", "connection_registry", "notifier")
EXAMPLES = ("daily_sales",)            # the platform team's sample client of the gateway's platform API
DATABASES = SERVICES + EXAMPLES
XERO_CLIENT_ID = "CLOUDPOSXERODEMOCLIENT0000000001"
STAFF_CLIENT_ID = "helpdesk-console"     # the helpdesk console, registered at the staff identity sandbox


@dataclass(frozen=True)
class Ports:
    """Fixed, documented ports (README); `--port-offset` shifts them all, e.g. for a second stack."""

    offset: int = 0
    gateway: int = 8100
    key_validator: int = 8101
    platform: int = 8102
    registry: int = 8103
    notifier: int = 8104
    daily_sales: int = 8105
    gateway_internal: int = 8200          # each service's internal listener: /health/*, /metrics
    key_validator_internal: int = 8201
    registry_internal: int = 8203
    notifier_internal: int = 8204
    daily_sales_internal: int = 8205
    xero: int = 8710
    cloudpos: int = 8720
    helpdesk: int = 8730
    smtp: int = 8725
    staff_idp: int = 8740
    vault: int = 8750                     # the key store of merchants' personal-data keys (Vault Transit)

    def __getattribute__(self, name: str) -> int:  # every port is shifted by the offset
        value = object.__getattribute__(self, name)
        return value + object.__getattribute__(self, "offset") if name != "offset" else value


@dataclass
class Process:
    name: str
    argv: list[str]
    env: dict[str, str]
    ready_url: str
    then: list[str] | None = None          # a command run once the process is ready (same environment)
    popen: subprocess.Popen[bytes] | None = field(default=None, repr=False)


def _secrets() -> dict[str, str]:
    """Fresh secrets for this run, or those a test hands in through LOCAL_STACK_SECRETS (JSON)."""
    if given := os.environ.get("LOCAL_STACK_SECRETS"):
        return generate_secrets() | json.loads(given)       # a test may hand in only some of them
    return generate_secrets()


def generate_secrets() -> dict[str, str]:
    names = ("xero_client_secret", "xero_control", "cloudpos_platform", "cloudpos_support", "cloudpos_control",
             "key_hash", "session", "key_validator_api", "registry_api", "notifier_api",
             "staff_idp_client_secret", "platform_client", "reminder_link", "vault_token")
    return {name: secrets.token_urlsafe(32) for name in names} | {
        "webhook": "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode(),
        "token_key": base64.b64encode(secrets.token_bytes(32)).decode()}


def plan(ports: Ports, kafka: str, dsns: dict[str, str], secret: dict[str, str], logs: Path) -> list[Process]:
    """Every process of the stack with its environment; sandboxes first, since services call them."""
    base = "http://127.0.0.1:{}"
    xero, cloudpos, helpdesk = (base.format(p) for p in (ports.xero, ports.cloudpos, ports.helpdesk))
    py = sys.executable
    sandboxes = [
        Process("xero sandbox", [py, "-m", "sandboxes.xero", "--host", "127.0.0.1", "--port", str(ports.xero)], {
            "XERO_SANDBOX_CLIENT_ID": XERO_CLIENT_ID,
            "XERO_SANDBOX_CLIENT_SECRET": secret["xero_client_secret"],
            "XERO_SANDBOX_REDIRECT_URIS": json.dumps([f"http://127.0.0.1:{ports.gateway}/xero/callback"]),
            "XERO_SANDBOX_CONTROL_TOKEN": secret["xero_control"], "XERO_SANDBOX_ISSUER": xero},
            f"{xero}/.well-known/openid-configuration"),
        Process("cloud pos sandbox", [py, "-m", "sandboxes.cloudpos", "--host", "127.0.0.1",
                                      "--port", str(ports.cloudpos)], {
            "CLOUDPOS_SANDBOX_PLATFORM_TOKEN": secret["cloudpos_platform"],
            "CLOUDPOS_SANDBOX_SUPPORT_TOKEN": secret["cloudpos_support"],
            "CLOUDPOS_SANDBOX_CONTROL_TOKEN": secret["cloudpos_control"]}, f"{cloudpos}/"),
        Process("helpdesk sandbox", [py, "-m", "sandboxes.helpdesk", "--host", "127.0.0.1", "--http-port",
                                     str(ports.helpdesk), "--smtp-port", str(ports.smtp)], {
            "HELPDESK_SANDBOX_WEBHOOK_SECRET": secret["webhook"]}, f"{helpdesk}/"),
        staff_idp(ports, secret),
        Process("vault sandbox", [py, "-m", "sandboxes.vault", "--host", "127.0.0.1", "--port", str(ports.vault)],
                {"VAULT_SANDBOX_ROOT_TOKEN": secret["vault_token"]}, f"http://127.0.0.1:{ports.vault}/v1/sys/health"),
    ]
    http_port = {"oauth_gateway": ports.gateway, "key_validator": ports.key_validator,
                 "connection_registry": ports.registry, "notifier": ports.notifier}
    internal_port = internal_ports(ports)
    own_env = service_environment(ports, secret, xero=xero, cloudpos=cloudpos, helpdesk=helpdesk)
    services = []
    for service in SERVICES:
        prefix = service.upper() + "_"
        env = {f"{prefix}DATABASE__URL": dsns[service], f"{prefix}KAFKA__BOOTSTRAP_SERVERS": kafka,
               f"{prefix}HTTP__PORT": str(http_port[service]),
               f"{prefix}HTTP__INTERNAL_PORT": str(internal_port[service])}
        env |= {prefix + name: value for name, value in own_env[service].items()}
        env |= {f"{prefix}PERSONAL_DATA__VAULT_URL": f"http://127.0.0.1:{ports.vault}",   # docs/personal-data.md
                f"{prefix}PERSONAL_DATA__VAULT_TOKEN": secret["vault_token"]}
        then = None
        if service == "oauth_gateway":   # the platform's client of the internal API, its token from the secrets
            env |= {"OAUTH_GATEWAY_PLATFORM_HTTP__PORT": str(ports.platform),
                    "OAUTH_GATEWAY_UPKEEP__CHECK_EVERY_SECONDS": "30",   # short enough to see a break in a demo
                    "PLATFORM_CLIENT_TOKEN": secret["platform_client"]}
            then = [py, "-m", service, "clients", "add", "platform", "--token-env", "PLATFORM_CLIENT_TOKEN"]
        services.append(Process(service, [py, "-m", service], env,
                                f"http://127.0.0.1:{internal_port[service]}/health/ready", then))
    return sandboxes + services + [daily_sales(ports, kafka, dsns["daily_sales"], secret, cloudpos)]


def internal_ports(ports: Ports) -> dict[str, int]:
    """Each service's internal listener (health probes, /metrics): never its public port."""
    return {"oauth_gateway": ports.gateway_internal, "key_validator": ports.key_validator_internal,
            "connection_registry": ports.registry_internal, "notifier": ports.notifier_internal,
            "daily_sales": ports.daily_sales_internal}


def staff_idp(ports: Ports, secret: dict[str, str]) -> Process:
    """The company's staff identity provider, stood in for: the helpdesk console signs staff in there."""
    issuer, registry = f"http://127.0.0.1:{ports.staff_idp}", f"http://127.0.0.1:{ports.registry}"
    return Process("staff_idp", [sys.executable, "-m", "sandboxes.staff_idp", "--host", "127.0.0.1",
                                 "--port", str(ports.staff_idp)], {
        "STAFF_IDP_SANDBOX_ISSUER": issuer, "STAFF_IDP_SANDBOX_CLIENT_ID": STAFF_CLIENT_ID,
        "STAFF_IDP_SANDBOX_CLIENT_SECRET": secret["staff_idp_client_secret"],
        "STAFF_IDP_SANDBOX_REDIRECT_URIS": json.dumps([f"{registry}/helpdesk/callback"]),
        "STAFF_IDP_SANDBOX_POST_LOGOUT_REDIRECT_URIS": json.dumps([f"{registry}/helpdesk/signed-out"])},
        f"{issuer}/.well-known/openid-configuration")


def daily_sales(ports: Ports, kafka: str, dsn: str, secret: dict[str, str], cloudpos: str) -> Process:
    """examples/daily_sales: posts each finalised store's daily sales invoice through the platform proxy."""
    env = {"DAILY_SALES_DATABASE__URL": dsn, "DAILY_SALES_KAFKA__BOOTSTRAP_SERVERS": kafka,
           "DAILY_SALES_HTTP__PORT": str(ports.daily_sales),
           "DAILY_SALES_HTTP__INTERNAL_PORT": str(ports.daily_sales_internal),
           "DAILY_SALES_PLATFORM_API__BASE_URL": f"http://127.0.0.1:{ports.platform}",
           "DAILY_SALES_PLATFORM_API__TOKEN": secret["platform_client"],
           "DAILY_SALES_CLOUDPOS__BASE_URL": cloudpos,
           "DAILY_SALES_CLOUDPOS__PLATFORM_TOKEN": secret["cloudpos_platform"],
           "DAILY_SALES_POSTING__POLL_INTERVAL_SECONDS": "10"}
    return Process("daily_sales", [sys.executable, "-m", "daily_sales"], env,
                   f"http://127.0.0.1:{ports.daily_sales_internal}/health/ready")


def service_environment(ports: Ports, secret: dict[str, str], *, xero: str, cloudpos: str,
                        helpdesk: str) -> dict[str, dict[str, str]]:
    """Each service's own settings (without its prefix): where the others and the third parties are."""
    gateway = f"http://127.0.0.1:{ports.gateway}"
    return {
        "key_validator": {"CLOUDPOS__BASE_URL": cloudpos, "CLOUDPOS__PLATFORM_TOKEN": secret["cloudpos_platform"],
                          "API_TOKEN": secret["key_validator_api"], "KEY_FINGERPRINT_SECRET": secret["key_hash"]},
        "oauth_gateway": {
            "PUBLIC_BASE_URL": gateway, "CLOUDPOS__BASE_URL": cloudpos,
            "KEY_VALIDATOR__BASE_URL": f"http://127.0.0.1:{ports.key_validator}",
            "KEY_VALIDATOR__API_TOKEN": secret["key_validator_api"],
            "REGISTRY__BASE_URL": f"http://127.0.0.1:{ports.registry}", "REGISTRY__API_TOKEN": secret["registry_api"],
            "XERO__ISSUER": xero, "XERO__API_BASE_URL": xero, "XERO__CLIENT_ID": XERO_CLIENT_ID,
            "XERO__CLIENT_SECRET": secret["xero_client_secret"], "XERO__REDIRECT_URI": f"{gateway}/xero/callback",
            "SESSION_SECRET": secret["session"], "TOKEN_KEYS": json.dumps({"k1": secret["token_key"]}),
            "ACTIVE_TOKEN_KEY_ID": "k1"},
        "connection_registry": {
            "API_TOKEN": secret["registry_api"],
            "STAFF_IDENTITY__ISSUER": f"http://127.0.0.1:{ports.staff_idp}",
            "STAFF_IDENTITY__CLIENT_ID": STAFF_CLIENT_ID,
            "STAFF_IDENTITY__CLIENT_SECRET": secret["staff_idp_client_secret"],
            "STAFF_IDENTITY__REDIRECT_URI": f"http://127.0.0.1:{ports.registry}/helpdesk/callback",
            "STAFF_IDENTITY__POST_LOGOUT_REDIRECT_URI": f"http://127.0.0.1:{ports.registry}/helpdesk/signed-out",
            "CONSOLE__SECURE_COOKIE": "false", "CONSOLE__UNFINISHED_AFTER_DAYS": "0",  # the demo's merchant at once
            "NOTIFIER__BASE_URL": f"http://127.0.0.1:{ports.notifier}", "NOTIFIER__API_TOKEN": secret["notifier_api"]},
        "notifier": {"API_TOKEN": secret["notifier_api"], "EMAIL__HOST": "127.0.0.1",
                     "EMAIL__PORT": str(ports.smtp), "EMAIL__STARTTLS": "false",
                     "EMAIL__FROM_ADDRESS": "xero-setup@cloudpos.test", "EMAIL__TO": '["helpdesk@cloudpos.test"]',
                     "WEBHOOK__URL": f"{helpdesk}/webhooks/helpdesk", "WEBHOOK__SECRET": secret["webhook"],
                     "WEBHOOK__ALLOW_INSECURE_LOOPBACK": "true",
                     "MERCHANT_EMAIL__HOST": "127.0.0.1", "MERCHANT_EMAIL__PORT": str(ports.smtp),
                     "MERCHANT_EMAIL__STARTTLS": "false",
                     "MERCHANT_EMAIL__FROM_ADDRESS": "Cloud POS <noreply@cloudpos.test>",
                     "CLOUDPOS__BASE_URL": cloudpos, "CLOUDPOS__PLATFORM_TOKEN": secret["cloudpos_platform"],
                     "PUBLIC_BASE_URL": f"http://127.0.0.1:{ports.notifier}",
                     "REMINDER_LINK_SECRET": secret["reminder_link"], "MERCHANT_EMAIL_DELAY_SECONDS": "5",
                     "SETUP_PAGE_URL": f"{gateway}/"},
    }


def _say(message: str) -> None:
    print(f"\033[1m==>\033[0m {message}", flush=True)


def _start(process: Process, logs: Path) -> None:
    log = open(logs / f"{process.name.replace(' ', '_')}.log", "ab")  # noqa: SIM115 - owned by the child
    process.popen = subprocess.Popen(process.argv, env={**os.environ, **process.env}, stdout=log,
                                     stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=die_with_parent)


def _wait_ready(process: Process, logs: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.popen is not None
        if process.popen.poll() is not None:
            tail = (logs / f"{process.name.replace(' ', '_')}.log").read_text(errors="replace")[-3000:]
            raise RuntimeError(f"{process.name} exited with {process.popen.returncode}:\n{tail}")
        try:
            with urllib.request.urlopen(process.ready_url, timeout=2) as response:  # noqa: S310 - loopback
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{process.name} not ready after {timeout}s ({process.ready_url})")


def _stop(processes: list[Process]) -> None:
    """SIGTERM in reverse start order, wait, then SIGKILL whatever (and whoever) is left."""
    running = [p.popen for p in reversed(processes) if p.popen and p.popen.poll() is None]
    pids = [pid for proc in running for pid in (proc.pid, *descendants(proc.pid))]
    for proc in running:
        proc.send_signal(signal.SIGTERM)
    if not wait_gone(pids, timeout=15):
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    for proc in running:
        proc.wait(timeout=5)


@contextmanager
def _infrastructure(ports: Ports) -> Iterator[tuple[str, dict[str, str]]]:
    with ExitStack() as stack:
        _say("Starting Kafka (the first run fetches its jars from Maven Central; this takes a minute)")
        kafka = stack.enter_context(kafka_bootstrap_servers())
        _say(f"Kafka ready at {kafka}")
        _say("Starting PostgreSQL")
        admin = stack.enter_context(postgres_dsn())
        dsns = {}
        for name in DATABASES:
            run_sync(_create_database(admin, name))
            dsns[name] = with_database(admin, name)
        where = urllib.parse.urlsplit(admin)
        _say(f"PostgreSQL ready at {where.hostname}:{where.port}: databases {', '.join(DATABASES)}")
        yield kafka, dsns


async def _create_database(admin_dsn: str, name: str) -> None:
    conn = await asyncpg.connect(admin_dsn)
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


def banner(ports: Ports, secret: dict[str, str]) -> str:
    from sandboxes.cloudpos import demo_data as pos  # the demo data lives with its sandbox
    from sandboxes.staff_idp import demo_data as staff
    from sandboxes.xero import demo_data as xero

    return "\n".join([
        "", "=" * 78,
        "  Cloud POS → Xero setup is running.",
        f"  Open the setup page:      http://127.0.0.1:{ports.gateway}/",
        "",
        f"  Cloud POS sign-in:        {pos.STEVE_USERNAME} / {pos.DEMO_PASSWORD}  (Pro Plus)",
        f"  Xero API key to paste:    {pos.DEMO_XERO_KEY}",
        f"  Bike Rental Manager key:  {pos.DEMO_BRM_KEY}  (refused: another service)",
        f"  Without Pro Plus:         {pos.BASIL_USERNAME} / {pos.DEMO_PASSWORD}",
        f"  Xero sign-in:             {xero.STEVE_EMAIL} / {xero.DEMO_PASSWORD}",
        "",
        f"  Helpdesk mail & webhooks: http://127.0.0.1:{ports.helpdesk}/   (SMTP on 127.0.0.1:{ports.smtp})",
        f"  Helpdesk console:         http://127.0.0.1:{ports.registry}/helpdesk/",
        f"  Helpdesk agent sign-in:   {staff.ALICE_EMAIL} / {staff.DEMO_PASSWORD}",
        f"  Helpdesk agent sign-in:   {staff.BOB_EMAIL} / {staff.DEMO_PASSWORD}",
        f"  Helpdesk lead sign-in:    {staff.LENA_EMAIL} / {staff.DEMO_PASSWORD}  (also re-drives notifications)",
        f"  Staff identity provider:  http://127.0.0.1:{ports.staff_idp}/.well-known/openid-configuration",
        f"  Platform API (internal):  http://127.0.0.1:{ports.platform}/internal/v1/stores/<store>/xero"
        f"  (Bearer {secret['platform_client']})",
        f"  Daily sales poster:       http://127.0.0.1:{ports.daily_sales_internal}/health/ready  "
        "(examples/daily_sales; posts each finalised store's yesterday into Xero)",
        f"  Xero sandbox:             http://127.0.0.1:{ports.xero}/   (invoices: /app/invoices)",
        f"  Cloud POS Back Office:    http://127.0.0.1:{ports.cloudpos}/",
        f"  Key store (Vault Transit): http://127.0.0.1:{ports.vault}/v1/transit  (merchants' personal-data keys)",
        f"  Service health (internal): http://127.0.0.1:{ports.registry_internal}/health/ready (registry), "
        f":{ports.gateway_internal} (gateway), :{ports.key_validator_internal} (key validator), "
        f":{ports.notifier_internal} (notifier), :{ports.daily_sales_internal} (daily sales)",
        f"  Metrics (internal):       http://127.0.0.1:{ports.registry_internal}/metrics and /metrics on each "
        "internal port above",
        "  Logs:                     .run/logs/",
        "",
        "  Press Ctrl-C to stop everything.", "=" * 78, ""])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port-offset", type=int, default=0, help="shift every documented port by N")
    args = parser.parse_args(argv)
    ports = Ports(offset=args.port_offset)
    busy = [p for p in (ports.gateway, ports.platform, ports.key_validator, ports.registry, ports.notifier,
                        ports.daily_sales, ports.xero, ports.cloudpos, ports.helpdesk, ports.smtp, ports.staff_idp,
                        ports.vault)
            if port_open(p)]
    if busy:
        print(f"ports already in use: {busy} (another `make run`? or use --port-offset)", file=sys.stderr)
        return 2
    logs = Path(".run/logs")
    logs.mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGTERM, _interrupt)  # `kill` stops it as cleanly as Ctrl-C
    try:
        with _infrastructure(ports) as (kafka, dsns):
            secret = _secrets()
            processes = plan(ports, kafka, dsns, secret, logs)
            try:  # the services stop before the infrastructure they use
                return _serve(processes, ports, secret, logs)
            finally:
                _stop(processes)
    except KeyboardInterrupt:
        _say("Stopped")
        return 0
    except RuntimeError as error:
        print(f"\n{error}", file=sys.stderr)
        return 1


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def _serve(processes: list[Process], ports: Ports, secret: dict[str, str], logs: Path) -> int:
    """Start every process in order, print the banner, and watch them until Ctrl-C or one exits."""
    try:
        for process in processes:
            _say(f"Starting {process.name}")
            _start(process, logs)
            _wait_ready(process, logs)
            if process.then:
                done = subprocess.run(process.then, env={**os.environ, **process.env}, capture_output=True,
                                      text=True, check=False)
                if done.returncode != 0:
                    raise RuntimeError(f"{' '.join(process.then[1:])} failed:\n{done.stderr[-2000:]}")
        print(banner(ports, secret), flush=True)
        while all(p.popen and p.popen.poll() is None for p in processes):
            time.sleep(0.5)
    except KeyboardInterrupt:
        _say("Stopping everything")
        raise
    dead = [p.name for p in processes if p.popen and p.popen.poll() is not None]
    _say(f"stopping: {', '.join(dead)} exited (see .run/logs/)")
    return 1


if __name__ == "__main__":
    sys.exit(main())
