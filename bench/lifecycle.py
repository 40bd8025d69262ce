"""Connection lifecycle at 10,000 merchants (issues #18, #19): the gateway's upkeep, its Xero budget, its pages
and the helpdesk console's pages at that size, on real processes.

`bench.lifecycle_seed` seeds the Xero sandbox, the gateway's, the registry's and the notifier's databases
consistently with `--lifecycle-merchants` merchants (3 stores, 2 grants, 3 Xero connections each; what the
notifier sent them; half a year of staff sessions and audit). Then the Xero sandbox, the staff identity sandbox,
the notifier, the connection_registry and the oauth_gateway run as their own processes with `make run`'s
settings (local_infra.stack.plan; the console's "not finished" queue at its default of 3 days) on the bench's
Kafka and PostgreSQL, the gateway's upkeep at its production defaults (a check every 900 s, 8 grants at a time,
20 % of the app's budget), and the bench moves the grants' due times in the gateway's database to make each
figure's situation:

- bare refresh loop (the baseline): `--lifecycle-baseline-refreshes` refreshes of users the gateway does not
  know, straight at the sandbox's token endpoint, 8 at a time (the upkeep's concurrency);
- keep-alive cycle: every grant's keep-alive falls due at once (checks not due): time until every grant has
  been refreshed, refreshes/s against the bare loop's, token calls per grant, gateway CPU per refresh;
- lost answers: the same cycle again, for `--lifecycle-drop-grants` of the grants (all: 0), while the sandbox
  loses `--lifecycle-drop-fraction` of the refresh answers after rotating the token (/_sandbox/refresh-drops);
  grants lost = grants the gateway marked broken (goal 0);
- steady checks: next_check_at spread evenly over the check interval: Xero API calls per minute over a
  `--lifecycle-window` window, read from the sandbox's counters, as a share of the app's 10,000/min (goal
  <= 20 %); the pages are measured during this window (one request at a time, upkeep running as usual):
  the merchant's stores page (GET / signed in) and every page of the helpdesk console (CONSOLE_PAGES), an agent
  and a lead signed in through the staff identity sandbox, the attention, parked and merchant pages reading the
  notifier's API (p95 goal < 100 ms);
- peak checks: every check due at once: the calls of the first window, against the same budget;
- database connections: the most sessions the gateway held at once on its database (pg_stat_activity, polled
  every 0.2 s; the bench's own sessions left out) over the whole phase, next to its pool size.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import statistics
import subprocess
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import asyncpg
import httpx

from connection_registry.console import PAGE_SIZE
from local_infra._proc import port_open
from local_infra.postgres import temporary_database
from local_infra.processes import ServiceProcess, service_process
from local_infra.staff import sign_in_staff
from local_infra.stack import DATABASES, Ports, Process, generate_secrets, plan
from oauth_gateway.adapters.crypto import TokenCipher
from oauth_gateway.settings import SALES_POSTER_SCOPES, UpkeepSettings
from sandboxes.staff_idp import ALICE_EMAIL, DEMO_PASSWORD, LENA_EMAIL
from shared.settings import DatabaseSettings

from .harness import LOGS, Infra, cpu_seconds, fmt, grid
from .lifecycle_seed import (APPLICATION, MerchantSeed, plan_merchants, seed_gateway, seed_notifier, seed_registry,
                             seed_staff)

if TYPE_CHECKING:
    from .harness import Config

APP_MINUTE_LIMIT = 10_000          # Xero's calls per minute for the whole app
PAGE_GOAL_MS = 100.0
UPKEEP = UpkeepSettings()
POOL_MAX = DatabaseSettings.model_fields["pool_max_size"].default
TOKEN_ROUTE = "POST /connect/token"


def _quiet_offset() -> int:
    """A `make run` port offset at which nothing listens (the sandboxes, the registry, the gateway's two
    listeners)."""
    for offset in range(21000, 50000, 173):
        ports = Ports(offset=offset)
        if not any(port_open(p, timeout=0.1) for p in (ports.xero, ports.gateway, ports.platform, ports.registry,
                                                         ports.cloudpos, ports.key_validator, ports.helpdesk,
                                                         ports.staff_idp, ports.notifier)):
            return offset
    raise RuntimeError("no free port offset for the lifecycle phase")


class Stack:
    """The Xero and staff identity sandboxes, the notifier, the registry and the gateway as processes, with what
    the bench reads them by. The registry listens on `make run`'s port for it: the staff identity sandbox only
    sends a signed-in browser back to the redirect URI registered there."""

    def __init__(self, kafka: str, dsns: dict[str, str], groups: dict[str, str]) -> None:
        self.ports, self.secret = Ports(offset=_quiet_offset()), generate_secrets()
        unused = "postgresql://unused@127.0.0.1:1/unused"
        procs = {p.name: p for p in plan(self.ports, kafka, {d: dsns.get(d, unused) for d in DATABASES},
                                        self.secret, LOGS)}
        self.xero_env = procs["xero sandbox"].env
        self.sandboxes = [procs["xero sandbox"], procs["staff_idp"]]
        self.envs = {name: procs[name].env | {f"{name.upper()}_KAFKA__CONSUMER_GROUP": groups[name]}
                     for name in ("oauth_gateway", "connection_registry", "notifier")}
        self.envs["connection_registry"].pop("CONNECTION_REGISTRY_CONSOLE__UNFINISHED_AFTER_DAYS")  # its default
        self.xero_url = f"http://127.0.0.1:{self.ports.xero}"
        self.staff_idp_url = f"http://127.0.0.1:{self.ports.staff_idp}"
        self.cipher = TokenCipher.from_base64({"k1": self.secret["token_key"]}, "k1")
        self.registry: ServiceProcess | None = None
        self.gateway: ServiceProcess | None = None
        self.notifier: ServiceProcess | None = None
        self._running = contextlib.ExitStack()

    @property
    def xero_client(self) -> tuple[str, str]:
        return self.xero_env["XERO_SANDBOX_CLIENT_ID"], self.xero_env["XERO_SANDBOX_CLIENT_SECRET"]

    async def start_sandboxes(self) -> None:
        """The Xero sandbox and the staff identity sandbox, with `make run`'s arguments and settings."""
        LOGS.mkdir(parents=True, exist_ok=True)
        for sandbox in self.sandboxes:
            log_path = LOGS / f"lifecycle-{sandbox.name.replace(' ', '-')}.log"
            with log_path.open("wb") as log:
                sandbox.popen = subprocess.Popen(sandbox.argv, env=os.environ | sandbox.env, stdout=log,
                                                 stderr=subprocess.STDOUT)
        async with httpx.AsyncClient() as http:
            for sandbox in self.sandboxes:
                await _wait_ready(http, sandbox)

    async def start_services(self, upkeep: dict[str, str]) -> None:
        """The notifier, the registry pointed at it, then the gateway pointed at the registry (service_process
        blocks: a thread)."""
        self.notifier = await asyncio.to_thread(self._running.enter_context, service_process(
            "notifier", self.envs["notifier"], LOGS, ready_timeout=120))
        registry_env = self.envs["connection_registry"] | {"CONNECTION_REGISTRY_NOTIFIER__BASE_URL": self.notifier.url}
        self.registry = await asyncio.to_thread(self._running.enter_context, service_process(
            "connection_registry", registry_env, LOGS, ready_timeout=120, port=self.ports.registry))
        gateway_env = self.envs["oauth_gateway"] | {"OAUTH_GATEWAY_REGISTRY__BASE_URL": self.registry.url} | {
            f"OAUTH_GATEWAY_UPKEEP__{k.upper()}": v for k, v in upkeep.items()}
        self.gateway = await asyncio.to_thread(self._running.enter_context, service_process(
            "oauth_gateway", gateway_env, LOGS, ready_timeout=120))

    async def stop(self) -> None:
        await asyncio.to_thread(self._running.close)
        for sandbox in (s.popen for s in self.sandboxes if s.popen and s.popen.poll() is None):
            sandbox.terminate()
            try:
                await asyncio.to_thread(sandbox.wait, 15)
            except subprocess.TimeoutExpired:
                sandbox.kill()
                sandbox.wait()


async def _wait_ready(http: httpx.AsyncClient, sandbox: Process) -> None:
    for _ in range(300):
        if sandbox.popen is None or sandbox.popen.poll() is not None:
            raise RuntimeError(f"the {sandbox.name} exited; see its log in {LOGS}")
        with contextlib.suppress(httpx.TransportError):
            if (await http.get(sandbox.ready_url)).status_code == 200:
                return
        await asyncio.sleep(0.1)
    raise RuntimeError(f"the {sandbox.name} did not start")


class Probe:
    """The bench's reads: the sandbox's counters and the gateway's database (its own session, left out of the
    gateway's connection count), and the most sessions the gateway held at once, per stage."""

    def __init__(self, xero: httpx.AsyncClient, db: asyncpg.Connection, monitor: asyncpg.Connection) -> None:
        self.xero, self.db, self._monitor = xero, db, monitor
        self.stage = "start"
        self.peaks: dict[str, int] = {}

    async def stats(self) -> dict:
        response = await self.xero.get("/_sandbox/stats")
        response.raise_for_status()
        return response.json()

    async def watch_connections(self) -> None:
        name = await self._monitor.fetchval("SELECT current_database()")
        while True:
            held = await self._monitor.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND backend_type = 'client backend'"
                " AND application_name <> $2", name, APPLICATION)
            self.peaks[self.stage] = max(self.peaks.get(self.stage, 0), held)
            await asyncio.sleep(0.2)


def _calls(before: dict, after: dict, route_prefix: str = "", status: str | None = None) -> int:
    """Calls between two /_sandbox/stats reads, for routes starting with the prefix (and of one status)."""
    def count(stats: dict) -> int:
        return sum(n for route, statuses in stats["calls"]["by_route"].items() if route.startswith(route_prefix)
                   for s, n in statuses.items() if status is None or s == status)
    return count(after) - count(before)


async def bare_refreshes(stack: Stack, users: list[dict], concurrency: int) -> dict:
    """The baseline: refreshes straight at the sandbox, `concurrency` at a time, nothing else around them."""
    todo = iter(users)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=stack.xero_url, auth=stack.xero_client, limits=limits,
                                 timeout=30) as http:
        async def worker() -> None:
            for user in todo:
                answer = await http.post("/connect/token", data={"grant_type": "refresh_token",
                                                                 "refresh_token": user["refresh_token"]})
                answer.raise_for_status()
                answer.json()
        started = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        seconds = time.monotonic() - started
    return {"refreshes": len(users), "seconds": seconds, "per_second": len(users) / seconds,
            "concurrency": concurrency}


async def keepalive_cycle(stack: Stack, probe: Probe, say: Callable[[str], None], label: str,
                          grants: int | None = None) -> dict:
    """Every active grant's keep-alive (or that of `grants` of them) due now, last refreshed 8 days ago, checks
    not due; until each one is refreshed or broken."""
    before, cpu0 = await probe.stats(), cpu_seconds(stack.gateway.process.pid)
    t0 = await probe.db.fetchval("SELECT now()")
    total = int((await probe.db.execute(
        "UPDATE grants SET refreshed_at = $1::timestamptz - interval '8 days', next_keepalive_at = $1"
        " WHERE grant_id IN (SELECT grant_id FROM grants WHERE status = 'active' ORDER BY grant_id LIMIT $2)",
        t0, grants)).split()[-1])
    broken0 = await probe.db.fetchval("SELECT count(*) FROM grants WHERE status = 'broken'")
    started, deadline, said = time.monotonic(), time.monotonic() + max(120.0, total / 10), time.monotonic()
    while True:
        done, broken = await probe.db.fetchrow(
            "SELECT count(*) FILTER (WHERE status = 'active' AND refreshed_at >= $1),"
            " count(*) FILTER (WHERE status = 'broken') FROM grants", t0)
        now = time.monotonic()
        if done + broken - broken0 >= total or now > deadline:
            break
        if now - said > 15:
            say(f"  lifecycle {label}: {done}/{total} refreshed after {now - started:.0f}s")
            said = now
        await asyncio.sleep(0.25)
    seconds, after, lost = now - started, await probe.stats(), broken - broken0
    token_calls = _calls(before, after, TOKEN_ROUTE)
    return {"grants": total, "refreshed": done, "lost": lost, "not_refreshed": total - done - lost,
            "seconds": seconds, "per_second": done / seconds, "token_calls": token_calls,
            "token_calls_per_grant": token_calls / max(total, 1),
            "dropped_answers": after["dropped_refresh_answers"] - before["dropped_refresh_answers"],
            "gateway_cpu_ms_per_refresh": (cpu_seconds(stack.gateway.process.pid) - cpu0) * 1000 / max(done, 1)}


async def check_window(probe: Probe, seconds: float, spread_seconds: float | None) -> dict:
    """Set the checks due (spread evenly over `spread_seconds`, or all now), then count the API calls that
    reach the sandbox in the following `seconds`."""
    if spread_seconds:
        await probe.db.execute("UPDATE grants SET next_check_at = now() + random() * make_interval(secs => $1)"
                               " WHERE status = 'active'", float(spread_seconds))
    else:
        await probe.db.execute("UPDATE grants SET next_check_at = now() WHERE status = 'active'")
    before, started = await probe.stats(), time.monotonic()
    await asyncio.sleep(seconds)
    after, elapsed = await probe.stats(), time.monotonic() - started
    api = after["calls"]["api"] - before["calls"]["api"]
    per_minute = api / elapsed * 60
    return {"window_seconds": elapsed, "api_calls": api, "calls_per_minute": per_minute,
            "share": per_minute / APP_MINUTE_LIMIT, "connections_calls": _calls(before, after, "GET /connections"),
            "organisation_calls": _calls(before, after, "GET /api.xro/2.0/organisation"),
            "rejected_429": sum(_calls(before, after, route, "429") for route in ("GET /connections",
                                                                                  "GET /api.xro/"))}


def _percentiles(times: list[float]) -> dict:
    ordered = sorted(times)
    return {"n": len(ordered), "p50": statistics.median(ordered),
            "p95": ordered[max(0, round(0.95 * (len(ordered) - 1)))], "max": ordered[-1]}


CONSOLE_PAGES = (   # (figure, label): every page of the helpdesk console, in the table's order
    ("console_awaiting", "console: awaiting finalisation, page 1"),
    ("console_awaiting_deep", "console: awaiting finalisation, last page"),
    ("console_attention", "console: needs attention (+ notifier API)"),
    ("console_unfinished", "console: started, not finished"),
    ("console_parked", "console: parked notifications (notifier API)"),
    ("console_search_merchant", "console: search, merchant name"),
    ("console_search_store", "console: search, store name"),
    ("console_search_organisation", "console: search, Xero organisation name"),
    ("console_search_tenant", "console: search, Xero organisation id"),
    ("console_search_merchant_id", "console: search, merchant id"),
    ("console_search_miss", "console: search, no match"),
    ("console_merchant", "console: merchant page (+ notifier API)"),
    ("console_sessions", "console: staff sessions (lead)"),
)
UNANSWERED = "The notifier is not answering"   # the console's words when the notifier's API did not answer
Request = tuple[str, dict]                     # a path and httpx.get's keyword arguments


async def _timed(http: httpx.AsyncClient, requests: list[Request], expect: tuple[str, ...] = (),
                 refuse: tuple[str, ...] = (), *, pids: tuple[int, ...] = ()) -> dict:
    """Each request one at a time, the first three unmeasured; a page without all of `expect` (or with one of
    `refuse`) stops the bench, or the figure could be of an error page or the sign-in page. `cpu_ms`: the CPU
    the server processes `pids` used per measured request, which other work on the machine does not inflate
    the way it does the wall-clock times (the load average is in the report)."""
    times, cpu0 = [], 0.0
    for i, (path, options) in enumerate(requests):
        if i == 3:
            cpu0 = sum(cpu_seconds(pid) for pid in pids)
        t0 = time.perf_counter()
        answer = await http.get(path, **options)
        elapsed = (time.perf_counter() - t0) * 1000
        text = answer.text
        if answer.status_code != 200 or not all(e in text for e in expect) or any(r in text for r in refuse):
            raise RuntimeError(f"{path} {options.get('params', '')} answered {answer.status_code}: {text[:300]}")
        if i >= 3:
            times.append(elapsed)
    return _percentiles(times) | {"cpu_ms": (sum(cpu_seconds(pid) for pid in pids) - cpu0) * 1000 / len(times)}


def _searches(merchants: list[MerchantSeed], n: int) -> dict[str, list[tuple[str, str | None]]]:
    """(query, a merchant id the answer must show) for each kind of search, a different merchant each time."""
    picks = [merchants[(i * 4099 + 17) % len(merchants)] for i in range(n)]
    return {"merchant": [(m.name, None) for m in picks],
            "store": [(m.stores[i % 3].name, None) for i, m in enumerate(picks)],
            "organisation": [(m.stores[2].organisation_name, None) for m in picks],
            "tenant": [(str(m.stores[i % 3].tenant_id), m.merchant_id) for i, m in enumerate(picks)],
            "merchant_id": [(m.merchant_id, m.merchant_id) for m in picks],
            "miss": [(f"no such shop {i}", None) for i in range(n)]}


async def console_latencies(agent: httpx.AsyncClient, lead: httpx.AsyncClient, merchants: list[MerchantSeed],
                            n: int, pids: tuple[int, ...]) -> dict:
    """Every console page as a signed-in agent (the sessions page as a lead), `n` times each (+3 unmeasured);
    `pids`: the registry's and the notifier's processes (their CPU per page)."""
    timed = functools.partial(_timed, pids=pids)
    picks = [merchants[(i * 7919) % len(merchants)].merchant_id for i in range(n + 3)]
    awaiting = sum(m.completed and not m.finalised for m in merchants)
    last = max(1, -(-awaiting // PAGE_SIZE))
    listed = ("/helpdesk/merchants/bench-m",)
    pages = {
        "console_awaiting": await timed(agent, [("/helpdesk/", {})] * (n + 3), listed),
        "console_awaiting_deep": await timed(agent, [("/helpdesk/", {"params": {"page": last}})] * (n + 3),
                                             listed),
        "console_attention": await timed(agent, [("/helpdesk/attention", {})] * (n + 3), listed + (" sent, ",),
                                         (UNANSWERED,)),
        "console_unfinished": await timed(agent, [("/helpdesk/unfinished", {})] * (n + 3), listed),
        "console_parked": await timed(agent, [("/helpdesk/parked", {})] * (n + 3), listed + ("a lead can re-drive",),
                                      (UNANSWERED,))}
    for kind, queries in _searches(merchants, n + 3).items():
        found = await timed(agent, [("/helpdesk/search", {"params": {"q": q}}) for q, _ in queries],
                            ("No merchant matches",) if kind == "miss" else listed)
        pages[f"console_search_{kind}"] = found
        for q, shown in queries[:3]:   # the answer is the merchant searched for, not just any merchant
            if shown and shown not in (await agent.get("/helpdesk/search", params={"q": q})).text:
                raise RuntimeError(f"searching {q!r} did not find {shown}")
    pages["console_merchant"] = await timed(agent, [(f"/helpdesk/merchants/{m}", {}) for m in picks],
                                            ("Notifications sent", "bench-m"), (UNANSWERED,))
    pages["console_sessions"] = await timed(lead, [("/helpdesk/sessions", {})] * (n + 3),
                                            ("Signed-in staff", LENA_EMAIL, ALICE_EMAIL))
    return pages


async def page_latencies(stack: Stack, cookies: list[str], merchants: list[MerchantSeed], n: int) -> dict:
    """The merchant's stores page (its organisations from the registry's summary, or the figure would be of an
    error page), then the console's pages as staff signed in through the staff identity sandbox."""
    async with httpx.AsyncClient(base_url=stack.gateway.url, timeout=30) as gateway:
        home = await _timed(gateway, [("/", {"cookies": {"cpx_setup": cookies[i % len(cookies)]}})
                                      for i in range(n + 3)], ("Xero Organisation Name:",),
                            pids=(stack.gateway.process.pid, stack.registry.process.pid))
    async with contextlib.AsyncExitStack() as clients:
        consoles = []
        for email in (ALICE_EMAIL, LENA_EMAIL):
            console = await clients.enter_async_context(httpx.AsyncClient(base_url=stack.registry.url, timeout=30))
            provider = await clients.enter_async_context(httpx.AsyncClient(timeout=30))
            signed = await sign_in_staff(console, provider, email, DEMO_PASSWORD)
            if signed.status_code != 303 or signed.headers.get("location") != "/helpdesk/":
                raise RuntimeError(f"{email} was not signed in: {signed.status_code} {signed.text[:300]}")
            consoles.append(console)
        servers = (stack.registry.process.pid, stack.notifier.process.pid)
        return {"merchant_home": home} | await console_latencies(*consoles, merchants, max(5, n // 4), servers)


async def _seed(infra: Infra, stack: Stack, dsns: dict[str, str], cfg: Config, say: Callable[[str], None]
                ) -> tuple[list[MerchantSeed], list[str], list[dict]]:
    started = time.monotonic()
    async with httpx.AsyncClient(base_url=stack.xero_url, timeout=300,
                                 headers={"x-sandbox-control-token": stack.secret["xero_control"]}) as xero:
        merchants = await plan_merchants(xero, cfg.lifecycle_merchants, list(SALES_POSTER_SCOPES))
        bare_users = (await xero.post("/_sandbox/seed", json={"users": cfg.lifecycle_baseline_refreshes,
                                                               "scopes": list(SALES_POSTER_SCOPES),
                                                               "prefix": "Bare"})).json()["users"]
    now = datetime.now(UTC)
    cookies = await seed_gateway(dsns["oauth_gateway"], stack.cipher, merchants, list(SALES_POSTER_SCOPES),
                                 cfg.lifecycle_sessions, now)
    await seed_registry(dsns["connection_registry"], merchants, now)
    await seed_staff(dsns["connection_registry"], merchants, now, stack.staff_idp_url)
    deliveries = await seed_notifier(dsns["notifier"], merchants, now)
    say(f"  lifecycle: seeded {len(merchants)} merchants, {3 * len(merchants)} stores, {2 * len(merchants)} grants, "
        f"{deliveries} notifier deliveries in {time.monotonic() - started:.0f}s")
    return merchants, cookies, bare_users


async def _measure(stack: Stack, probe: Probe, merchants: list[MerchantSeed], cookies: list[str],
                   bare_users: list[dict], cfg: Config, say: Callable[[str], None]) -> dict:
    probe.stage = "idle"
    bare = await bare_refreshes(stack, bare_users, UPKEEP.concurrency)
    say(f"  lifecycle bare refresh loop: {bare['per_second']:.0f} refreshes/s")
    probe.stage = "keepalive"
    cycle = await keepalive_cycle(stack, probe, say, "keep-alive")
    say(f"  lifecycle keep-alive cycle: {cycle['refreshed']}/{cycle['grants']} grants in {cycle['seconds']:.1f}s "
        f"({cycle['per_second']:.0f}/s)")
    drops = {"fraction": cfg.lifecycle_drop_fraction, "mode": cfg.lifecycle_drop_mode, "seed": 18}
    (await probe.xero.post("/_sandbox/refresh-drops", json=drops)).raise_for_status()
    probe.stage = "keepalive_lost_answers"
    lossy = await keepalive_cycle(stack, probe, say, "keep-alive with lost answers",
                                  cfg.lifecycle_drop_grants or None)
    (await probe.xero.post("/_sandbox/refresh-drops", json={"fraction": 0})).raise_for_status()
    say(f"  lifecycle lost answers: {lossy['dropped_answers']} dropped, {lossy['lost']} grants lost, "
        f"{lossy['not_refreshed']} not refreshed")
    probe.stage = "steady_checks"
    async with asyncio.TaskGroup() as both:     # the pages are read while the steady checks are counted
        steady_task = both.create_task(check_window(probe, cfg.lifecycle_window_seconds,
                                                    UPKEEP.check_every_seconds))
        pages_task = both.create_task(page_latencies(stack, cookies, merchants, cfg.lifecycle_page_requests))
    steady, pages = steady_task.result(), pages_task.result()
    say(f"  lifecycle steady checks: {steady['calls_per_minute']:.0f} API calls/min ({steady['share']:.1%}); "
        f"stores page p95 {pages['merchant_home']['p95']:.1f} ms")
    probe.stage = "peak_checks"
    peak = await check_window(probe, cfg.lifecycle_window_seconds, None)
    say(f"  lifecycle peak checks: {peak['calls_per_minute']:.0f} API calls/min ({peak['share']:.1%})")
    return {"bare": bare, "keepalive": cycle, "lost_answers": lossy | {"fraction": drops["fraction"],
                                                                        "mode": drops["mode"]},
            "checks": {"steady": steady, "peak": peak}, "pages": pages}


async def run(infra: Infra, cfg: Config, say: Callable[[str], None]) -> dict:
    """The `lifecycle` section of the report."""
    say(f"lifecycle: {cfg.lifecycle_merchants} merchants, {3 * cfg.lifecycle_merchants} stores, "
        f"{2 * cfg.lifecycle_merchants} grants; the gateway, registry, notifier and sandboxes as processes")
    started, tag = time.monotonic(), uuid.uuid4().hex[:6]
    groups = {s: f"bench-lifecycle-{s}-{tag}" for s in ("oauth_gateway", "connection_registry", "notifier")}
    topics = await infra.all_topics()
    for group in groups.values():
        await infra.set_group_to_end(group, topics)
    async with contextlib.AsyncExitStack() as exits:
        dsns = {s: await exits.enter_async_context(temporary_database(infra.admin_dsn, prefix=f"bench_life_{s}"))
                for s in groups}
        stack = Stack(infra.bootstrap, dsns, groups)
        exits.push_async_callback(stack.stop)
        await stack.start_sandboxes()
        merchants, cookies, bare_users = await _seed(infra, stack, dsns, cfg, say)
        await stack.start_services({"check_every_seconds": str(UPKEEP.check_every_seconds)})
        session = {"application_name": APPLICATION}
        db = await asyncpg.connect(dsns["oauth_gateway"], server_settings=session)
        exits.push_async_callback(db.close)
        monitor = await asyncpg.connect(dsns["oauth_gateway"], server_settings=session)
        exits.push_async_callback(monitor.close)
        xero = await exits.enter_async_context(httpx.AsyncClient(
            base_url=stack.xero_url, timeout=60, headers={"x-sandbox-control-token": stack.secret["xero_control"]}))
        probe = Probe(xero, db, monitor)
        watcher = asyncio.ensure_future(probe.watch_connections())
        try:
            section = await _measure(stack, probe, merchants, cookies, bare_users, cfg, say)
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
    section |= {"merchants": len(merchants), "stores": 3 * len(merchants), "grants": 2 * len(merchants),
                "connections": 3 * len(merchants), "db_connections": {"max": max(probe.peaks.values()),
                                                                       "by_stage": probe.peaks,
                                                                       "pool_max_size": POOL_MAX},
                "upkeep": UPKEEP.model_dump(), "app_minute_limit": APP_MINUTE_LIMIT,
                "seconds": time.monotonic() - started}
    section["keepalive"]["ratio_to_bare"] = section["keepalive"]["per_second"] / section["bare"]["per_second"]
    section["met"] = met(section)
    say(f"lifecycle: done in {section['seconds']:.0f}s")
    return section


def met(section: dict) -> dict[str, bool]:
    budget = UPKEEP.budget_share
    return {"grants_lost": section["lost_answers"]["lost"] == 0 and section["lost_answers"]["not_refreshed"] == 0,
            "steady_share": section["checks"]["steady"]["share"] <= budget,
            "peak_share": section["checks"]["peak"]["share"] <= budget,
            "pool": section["db_connections"]["max"] <= section["db_connections"]["pool_max_size"],
            **{f"page_{name}": figures["p95"] < PAGE_GOAL_MS for name, figures in section["pages"].items()}}


def table(report: dict) -> str | None:
    s = report.get("lifecycle")
    if not s:
        return None
    yes = {True: "yes", False: "NO"}
    k, lossy, bare, m = s["keepalive"], s["lost_answers"], s["bare"], s["met"]
    budget = f"<= {s['upkeep']['budget_share']:.0%} of {s['app_minute_limit']}/min"
    head = ["lifecycle (gateway + registry + notifier + sandboxes)", "measured", "bare baseline", "ratio / goal", "met"]
    body = [[f"keep-alive cycle, {k['grants']} grants due at once (s)", fmt(k["seconds"]), "", "", ""],
            ["  refreshes/s", fmt(k["per_second"]), f"{fmt(bare['per_second'])} (bare loop, {bare['concurrency']} "
             "at a time)", f"{k['ratio_to_bare']:.2f}x", ""],
            ["  token calls per grant", f"{k['token_calls_per_grant']:.3f}", "", "1 (one refresh each)", ""],
            ["  gateway CPU ms per refresh", fmt(k["gateway_cpu_ms_per_refresh"]), "", "", ""],
            [f"cycle of {lossy['grants']} grants, {lossy['fraction']:.0%} of answers lost ({lossy['mode']}): "
             "grants lost",
             f"{lossy['lost']} ({lossy['dropped_answers']} dropped, {lossy['not_refreshed']} not refreshed, "
             f"{fmt(lossy['seconds'])} s)", "", "0", yes[m["grants_lost"]]]]
    for name in ("steady", "peak"):
        c = s["checks"][name]
        body.append([f"upkeep Xero API calls/min, {name} ({fmt(c['window_seconds'])} s window)",
                     f"{fmt(c['calls_per_minute'])} ({c['share']:.1%})", "", budget, yes[m[f"{name}_share"]]])
    db = s["db_connections"]
    body.append(["gateway database sessions, most at once", str(db["max"]), "", f"pool max {db['pool_max_size']}",
                 yes[m["pool"]]])
    for name, label in (("merchant_home", "merchant stores page GET /"), *CONSOLE_PAGES):
        p = s["pages"][name]
        cpu = f", CPU {fmt(p['cpu_ms'])}" if "cpu_ms" in p else ""
        body.append([f"{label} p95 ms (p50, server CPU)", f"{fmt(p['p95'])} ({fmt(p['p50'])}{cpu})", "",
                     f"< {PAGE_GOAL_MS:.0f}", yes[m[f"page_{name}"]]])
    note = (f"lifecycle: {s['merchants']} merchants, {s['stores']} stores, {s['grants']} grants, {s['connections']} "
            f"Xero connections; upkeep at its defaults (check every {s['upkeep']['check_every_seconds']:.0f} s, "
            f"{s['upkeep']['concurrency']} at a time); pages one request at a time during the steady window; "
            f"phase wall time {s['seconds']:.0f} s")
    return "\n".join([note, *grid(head, body)])
