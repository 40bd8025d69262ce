"""The platform proxy's cost: a Xero call through the gateway's proxy against the same call made directly to
the Xero sandbox with the same access token, in the same run, on the `make run` stack.

One merchant connects one store (the scripted browser steps of tests and the journey). Then:
- latency: `--proxy-calls` GETs of /api.xro/2.0/Organisation (JSON), direct, through a bare forwarder
  (bench/bare_forward.py: httpx behind uvicorn, nothing else: what any Python hop costs here) and proxied,
  in turn, one at a time over kept-alive connections; each kind's p50 and p99 and the added ms;
- throughput: for `--proxy-seconds`, `--proxy-concurrency` callers loop on the same GET, direct then proxied;
  calls/s with the ratio proxied/direct.
Xero's limits (60/min, 5 in flight per tenant) would make both measure Xero's budget, not the gateway, so the
sandbox and the gateway are both configured here with limits far above the load: the proxy still takes and
gives back a budget slot (same SQL, slices instead of the minute's exact log) on every call.
"""

from __future__ import annotations

import asyncio
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import httpx

from local_infra.launch import RunningStack, running_stack
from local_infra.merchant import CLOUDPOS_TOKENS, Walk, connect, ready, seed_merchant
from local_infra.stack import generate_secrets
from sandboxes.xero import STEVE_TEST_STORE_TENANT_ID

from .harness import ROOT, fmt, grid

if TYPE_CHECKING:
    from .harness import Config

PATH = "api.xro/2.0/Organisation"
LIFTED = {"XERO_SANDBOX_TENANT_MINUTE_LIMIT": "10000000", "XERO_SANDBOX_TENANT_DAY_LIMIT": "10000000",
          "XERO_SANDBOX_APP_MINUTE_LIMIT": "10000000", "XERO_SANDBOX_TENANT_CONCURRENT_LIMIT": "10000",
          "OAUTH_GATEWAY_XERO_LIMITS__PER_MINUTE": "10000000", "OAUTH_GATEWAY_XERO_LIMITS__PER_DAY": "10000000",
          "OAUTH_GATEWAY_XERO_LIMITS__APP_PER_MINUTE": "10000000", "OAUTH_GATEWAY_XERO_LIMITS__CONCURRENT": "10000"}


async def _connected_store(stack: RunningStack) -> str:
    merchant = await seed_merchant(stack.url(stack.ports.cloudpos).rstrip("/"))
    site = Walk(stack.url(stack.ports.gateway).rstrip("/"), merchant)
    store = next(iter(merchant.stores))
    try:
        await connect(site, await ready(site), store, STEVE_TEST_STORE_TENANT_ID)
    finally:
        for browser in site.browsers:
            await browser.close()
    return store


def _pct(xs: list[float], q: float) -> float:
    return statistics.quantiles(xs, n=100, method="inclusive")[int(q) - 1]


async def _latency(calls: int, **kinds: Callable) -> dict:
    times: dict[str, list[float]] = {kind: [] for kind in kinds}
    for _ in range(calls):
        for kind, call in kinds.items():
            t0 = time.perf_counter()
            response = await call()
            times[kind].append((time.perf_counter() - t0) * 1000)
            assert response.status_code == 200, (kind, response.status_code, response.text[:300])
    out = {kind: {"p50": statistics.median(xs), "p99": _pct(xs, 99)} for kind, xs in times.items()}
    out["added"] = {q: out["proxied"][q] - out["direct"][q] for q in ("p50", "p99")}
    out["bare_hop"] = {q: out["bare"][q] - out["direct"][q] for q in ("p50", "p99")}
    return out


async def _throughput(call: Callable, seconds: float, concurrency: int) -> float:  # noqa: ANN001
    done, failed, deadline = 0, 0, time.monotonic() + seconds

    async def worker() -> None:
        nonlocal done, failed
        while time.monotonic() < deadline:
            if (await call()).status_code == 200:
                done += 1
            else:
                failed += 1
    started = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    assert failed == 0, f"{failed} calls failed during the throughput run"
    return done / (time.monotonic() - started)


async def run(cfg: Config, say: Callable[[str], None]) -> dict:
    """The `proxy` section of the report."""
    secrets = generate_secrets() | {"cloudpos_control": CLOUDPOS_TOKENS["control"],
                                    "cloudpos_support": CLOUDPOS_TOKENS["support"]}
    say(f"proxy: starting `make run` (port offset {cfg.proxy_port_offset}) with Xero's limits lifted")
    with running_stack(cfg.proxy_port_offset, secrets, environment=LIFTED) as stack:
        store = await _connected_store(stack)
        platform_auth = {"Authorization": f"Bearer {secrets['platform_client']}"}
        limits = httpx.Limits(max_connections=cfg.proxy_concurrency, max_keepalive_connections=cfg.proxy_concurrency)
        async with httpx.AsyncClient(base_url=stack.url(stack.ports.platform), headers=platform_auth, timeout=30,
                                     limits=limits) as platform:
            issued = (await platform.post(f"/internal/v1/stores/{store}/xero/access-token")).json()
            xero_headers = {"Authorization": f"Bearer {issued['access_token']}",
                            "xero-tenant-id": issued["tenant_id"], "Accept": "application/json"}
            async with httpx.AsyncClient(base_url=stack.url(stack.ports.xero), timeout=30, limits=limits,
                                         headers=xero_headers) as xero, \
                    _bare_forwarder(stack.url(stack.ports.xero).rstrip("/"), xero_headers, limits) as bare_hop:
                def direct():  # noqa: ANN202
                    return xero.get("/" + PATH)

                def bare():  # noqa: ANN202
                    return bare_hop.get("/" + PATH)

                def proxied():  # noqa: ANN202
                    return platform.get(f"/internal/v1/stores/{store}/xero/proxy/{PATH}",
                                        headers={"Accept": "application/json"})
                await _latency(20, direct=direct, bare=bare, proxied=proxied)        # warm-up
                latency = await _latency(cfg.proxy_calls, direct=direct, bare=bare, proxied=proxied)
                say(f"  proxy latency: added p50 {latency['added']['p50']:.2f} ms, p99 {latency['added']['p99']:.2f} ms")
                rates = {kind: await _throughput(call, cfg.proxy_seconds, cfg.proxy_concurrency)
                         for kind, call in (("direct", direct), ("bare", bare), ("proxied", proxied))}
                say(f"  proxy throughput: {rates['proxied']:.0f} calls/s proxied, {rates['direct']:.0f} direct")
    return {"calls": cfg.proxy_calls, "unit": "ms", "latency": latency, "concurrency": cfg.proxy_concurrency,
            "seconds": cfg.proxy_seconds, "calls_per_second": rates,
            "ratio": rates["proxied"] / rates["direct"], "goal": {"added_p50_ms": 2.0},
            "measured": "GET /api.xro/2.0/Organisation, same token and tenant; direct = the Xero sandbox, proxied "
                        "= the gateway's platform API (one instance) in front of it; Xero's limits lifted on both"}


@asynccontextmanager
async def _bare_forwarder(upstream: str, headers: dict[str, str], limits: httpx.Limits):  # noqa: ANN202
    """bench/bare_forward.py as its own process in front of the sandbox, and a client for it."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen([sys.executable, "-m", "bench.bare_forward", "--port", str(port), "--upstream",
                                upstream], cwd=ROOT)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=30,
                                     limits=limits) as client:
            for _ in range(100):
                try:
                    await client.get("/" + PATH)
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
            yield client
    finally:
        process.terminate()
        process.wait(timeout=10)


def table(report: dict) -> str | None:
    section = report.get("proxy")
    if not section:
        return None
    lat, rates = section["latency"], section["calls_per_second"]
    head = ["platform proxy (make run stack)", "direct (baseline)", "bare hop", "proxied", "added / ratio"]
    body = [[f"latency {q} ms", fmt(lat["direct"][q]), fmt(lat["bare"][q]), fmt(lat["proxied"][q]),
             f"{fmt(lat['added'][q])} (a bare hop adds {fmt(lat['bare_hop'][q])})"] for q in ("p50", "p99")]
    body.append([f"calls/s at concurrency {section['concurrency']}", fmt(rates["direct"]), fmt(rates["bare"]),
                 fmt(rates["proxied"]), f"{section['ratio']:.2f}x"])
    goal = "met" if lat["added"]["p50"] <= section["goal"]["added_p50_ms"] else "NOT met"
    note = (f"proxy: {section['calls']} calls of each kind alternated one at a time, then {section['seconds']:.0f} s "
            f"of each at concurrency {section['concurrency']}; goal <= 2 ms added at p50: {goal}")
    return "\n".join([note, *grid(head, body)])
