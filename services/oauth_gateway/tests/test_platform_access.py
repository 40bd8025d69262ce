"""The platform's use of a connection (xero_client.platform) with hand-written fakes: no HTTP, no database."""

from dataclasses import replace
from datetime import timedelta
from uuid import uuid4

import pytest

from oauth_gateway.domain import platform as rules
from oauth_gateway.domain.model import Connection, ConnectionStatus
from oauth_gateway.domain.platform import ApiCode, ApiRefusal, LinkStatus, Operation, PlatformClient, StoreLink
from oauth_gateway.ports import BudgetExhausted, ProxyAnswer, ProxyCall, XeroUnavailable
from oauth_gateway.xero_client import Breaks, PlatformAccess, PlatformClients, Tokens

from .fakes import LINKS, NOW, FakeClock, FakeIdentity, FakePlatformReads, FakeUnitOfWork, active_grant

TENANT = uuid4()
WANTED = ("openid", "offline_access", "accounting.invoices")
EVERYTHING = frozenset(Operation)


class ScriptedApi:
    """Xero's API host for forwarded calls: answers from `script` in order, recording what it was sent."""

    def __init__(self, *script: ProxyAnswer | Exception) -> None:
        self.script, self.sent = list(script), []

    async def forward(self, access_token, tenant_id, call, *, max_wait):  # noqa: ANN001, ANN201
        self.sent.append((access_token, tenant_id, call, max_wait))
        step = self.script.pop(0) if self.script else ProxyAnswer(200, {"content-type": "application/json"}, b"{}")
        if isinstance(step, Exception):
            raise step
        return step


class World:
    def __init__(self, api: ScriptedApi) -> None:
        self.uow, self.clock, self.identity, self.api = FakeUnitOfWork(), FakeClock(), FakeIdentity(uuid4()), api
        breaks = Breaks(LINKS)
        self.tokens = Tokens(self.uow, self.clock, self.identity, breaks)
        self.access = PlatformAccess(FakePlatformReads(self.uow), self.uow, self.clock, self.tokens, api, breaks,
                                     wanted_scopes=WANTED, max_wait=1.5)
        self.clients = PlatformClients(self.uow, self.clock)

    async def connected(self, store_id: str = "s-1", merchant_id: str = "m-1", scopes: tuple[str, ...] = WANTED,
                        status: ConnectionStatus = ConnectionStatus.ACTIVE,
                        expires_in: timedelta = timedelta(minutes=30)):
        async with self.uow() as tx:
            await tx.grants.save(active_grant(expires_in=expires_in), NOW)
            await tx.connections.save(Connection(merchant_id, TENANT, "Steve Test Store", uuid4(), "g-1", "STANDARD",
                                                 status, scopes), NOW, None if status is ConnectionStatus.ACTIVE
                                      else "invalid_grant")
            await tx.store_links.link(StoreLink(store_id, merchant_id, TENANT, "u-steve", NOW))

    async def client(self, operations=EVERYTHING, merchants=None) -> PlatformClient:  # noqa: ANN001
        await self.clients.register(PlatformClient("platform", frozenset(operations), merchants), "t" * 40)
        found = await self.access.client("t" * 40)
        assert found is not None
        return found


def call(path: str = "api.xro/2.0/Invoices", method: str = "GET") -> ProxyCall:
    return ProxyCall(method, path, "", {"accept": "application/json"}, b"")


async def test_a_client_is_known_only_by_its_current_token_and_only_its_hash_is_kept() -> None:
    w = World(ScriptedApi())
    await w.client()
    assert all(key != b"t" * 40 and len(key) == 32 for key in w.uow.committed.clients)
    assert await w.access.client("t" * 39 + "x") is None and await w.access.client(None) is None
    await w.clients.register(PlatformClient("platform", EVERYTHING), "n" * 40)      # re-keyed
    assert await w.access.client("t" * 40) is None and await w.access.client("n" * 40) is not None
    assert await w.clients.disable("platform") and await w.access.client("n" * 40) is None


async def test_short_tokens_and_bad_names_are_refused() -> None:
    w = World(ScriptedApi())
    with pytest.raises(ValueError, match="32"):
        await w.clients.register(PlatformClient("platform", EVERYTHING), "short")
    with pytest.raises(ValueError, match="name"):
        await w.clients.register(PlatformClient("Not Valid!", EVERYTHING), "t" * 40)


async def test_connection_info_names_the_organisation_and_scopes() -> None:
    w = World(ScriptedApi())
    await w.connected()
    view = await w.access.connection(await w.client(), "s-1")
    assert not isinstance(view, ApiRefusal)
    assert (view.status, view.found.link.tenant_id, view.found.organisation_name) == (LinkStatus.ACTIVE, TENANT,
                                                                                      "Steve Test Store")
    assert view.missing_scopes == ()


async def test_grown_scopes_report_reconnect_needed_with_what_is_missing() -> None:
    w = World(ScriptedApi())
    await w.connected(scopes=("openid", "offline_access"))
    view = await w.access.connection(await w.client(), "s-1")
    assert not isinstance(view, ApiRefusal)
    assert (view.status, view.missing_scopes) == (LinkStatus.RECONNECT_NEEDED, ("accounting.invoices",))


async def test_unknown_store_and_another_merchants_store_look_the_same() -> None:
    w = World(ScriptedApi())
    await w.connected(merchant_id="m-other")
    client = await w.client(merchants=frozenset({"m-1"}))
    for store in ("s-1", "s-unknown"):
        refused = await w.access.connection(client, store)
        assert isinstance(refused, ApiRefusal) and refused.code is ApiCode.STORE_NOT_CONNECTED


async def test_an_operation_not_given_to_the_client_is_forbidden() -> None:
    w = World(ScriptedApi())
    await w.connected()
    client = await w.client(operations={Operation.READ})
    for refused in (await w.access.access_token(client, "s-1"), await w.access.proxy(client, "s-1", call())):
        assert isinstance(refused, ApiRefusal) and refused.code is ApiCode.FORBIDDEN
    assert w.api.sent == []


async def test_a_token_is_refreshed_when_it_would_not_live_five_more_minutes_and_the_issue_is_audited() -> None:
    w = World(ScriptedApi())
    await w.connected(expires_in=timedelta(minutes=4))
    issued = await w.access.access_token(await w.client(), "s-1")
    assert not isinstance(issued, ApiRefusal)
    assert w.identity.refreshes == 1 and issued.access_token == "access-2"
    assert issued.expires_at - w.clock() >= timedelta(minutes=5) and issued.tenant_id == TENANT
    action, merchant, tenant, detail = w.uow.committed.audit[-1]
    assert (action, merchant, tenant, detail["store_id"]) == ("platform.token_issued", "m-1", TENANT, "s-1")
    assert "access-2" not in repr(w.uow.committed.audit)


async def test_a_token_with_time_left_is_issued_without_a_refresh() -> None:
    w = World(ScriptedApi())
    await w.connected(expires_in=timedelta(minutes=20))
    issued = await w.access.access_token(await w.client(), "s-1")
    assert not isinstance(issued, ApiRefusal) and (w.identity.refreshes, issued.access_token) == (0, "access-1")


async def test_a_broken_connection_gives_no_token_and_no_proxy() -> None:
    w = World(ScriptedApi())
    await w.connected(status=ConnectionStatus.BROKEN)
    client = await w.client()
    for refused in (await w.access.access_token(client, "s-1"), await w.access.proxy(client, "s-1", call())):
        assert isinstance(refused, ApiRefusal) and refused.code is ApiCode.CONNECTION_BROKEN
        assert refused.extra == {"reason": "invalid_grant"}


async def test_the_proxy_sends_the_stores_tenant_and_hands_back_xeros_answer() -> None:
    answer = ProxyAnswer(400, {"content-type": "application/json", "x-minlimit-remaining": "58"}, b'{"Type":"Val"}')
    w = World(ScriptedApi(answer))
    await w.connected()
    got = await w.access.proxy(await w.client(), "s-1", call(method="PUT"))
    assert got == answer
    token, tenant, sent, max_wait = w.api.sent[0]
    assert (token, tenant, sent.method, max_wait) == ("access-1", TENANT, "PUT", 1.5)


@pytest.mark.parametrize("path", ["connections", "connections/abc", "api.xro/../connections", "http://evil/api.xro",
                                  "api.xro//2.0", "identity/connect/token", "api.xro/2.0/Invoices?x=1"])
async def test_the_proxy_reaches_only_tenant_api_paths(path: str) -> None:
    w = World(ScriptedApi())
    await w.connected()
    refused = await w.access.proxy(await w.client(), "s-1", call(path))
    assert isinstance(refused, ApiRefusal) and refused.code is ApiCode.PATH_NOT_ALLOWED
    assert w.api.sent == []


async def test_a_401_gets_one_forced_refresh_and_one_retry() -> None:
    expired = ProxyAnswer(401, {"www-authenticate": 'Bearer error="invalid_token"'}, b"{}")
    w = World(ScriptedApi(expired, ProxyAnswer(200, {}, b"ok")))
    await w.connected()
    got = await w.access.proxy(await w.client(), "s-1", call())
    assert isinstance(got, ProxyAnswer) and got.status == 200
    assert [s[0] for s in w.api.sent] == ["access-1", "access-2"] and w.identity.refreshes == 1


async def test_a_second_401_goes_back_without_the_upstream_challenge() -> None:
    expired = ProxyAnswer(401, {"www-authenticate": 'Bearer error="invalid_token"'}, b"{}")
    w = World(ScriptedApi(expired, expired))
    await w.connected()
    got = await w.access.proxy(await w.client(), "s-1", call())
    assert isinstance(got, ProxyAnswer) and got.status == 401 and "www-authenticate" not in got.headers
    assert len(w.api.sent) == 2


@pytest.mark.parametrize("spelling", ["insufficient_scope", "insufficent_scope"])
async def test_a_missing_scope_is_a_clear_refusal_without_a_retry(spelling: str) -> None:
    w = World(ScriptedApi(ProxyAnswer(401, {"www-authenticate": f'Bearer error="{spelling}"'}, b"{}")))
    await w.connected(scopes=("openid", "offline_access"))
    refused = await w.access.proxy(await w.client(), "s-1", call())
    assert isinstance(refused, ApiRefusal) and refused.code is ApiCode.MISSING_SCOPE
    assert refused.extra["missing_scopes"] == ["accounting.invoices"] and len(w.api.sent) == 1


async def test_a_spent_budget_is_a_429_with_retry_after_and_the_limit_named() -> None:
    w = World(ScriptedApi(BudgetExhausted("minute", 17)))
    await w.connected()
    refused = await w.access.proxy(await w.client(), "s-1", call())
    assert isinstance(refused, ApiRefusal)
    assert (refused.code, refused.retry_after, refused.extra) == (ApiCode.RATE_LIMITED, 17, {"limit": "minute"})


async def test_xero_away_is_a_refusal_saying_so() -> None:
    w = World(ScriptedApi(XeroUnavailable("PUT api.xro/2.0/Invoices: no answer in time")))
    await w.connected()
    refused = await w.access.proxy(await w.client(), "s-1", call())
    assert isinstance(refused, ApiRefusal) and refused.code is ApiCode.XERO_UNAVAILABLE


def test_only_negotiation_and_idempotency_headers_cross() -> None:
    sent = {"Accept": "application/json", "Authorization": "Bearer theirs", "xero-tenant-id": str(uuid4()),
            "Idempotency-Key": "k-1", "Cookie": "a=b", "Content-Type": "application/json"}
    assert rules.forwarded_headers(sent) == {"Accept": "application/json", "Idempotency-Key": "k-1",
                                             "Content-Type": "application/json"}


def test_status_follows_the_connection_then_the_scopes() -> None:
    link = StoreLink("s-1", "m-1", TENANT, "u", NOW)
    found = rules.StoreConnection(link, "Org", "g-1", ConnectionStatus.ACTIVE, None, ("a",))
    assert found.status(("a",)) is LinkStatus.ACTIVE
    assert found.status(("a", "b")) is LinkStatus.RECONNECT_NEEDED
    assert replace(found, connection_status=ConnectionStatus.BROKEN).status(("a",)) is LinkStatus.BROKEN


async def test_repeated_xero_trouble_is_reported_degraded_never_broken_and_one_good_answer_clears_it() -> None:
    trouble = ProxyAnswer(503, {"content-type": "text/plain"}, b"offline")
    w = World(ScriptedApi(trouble, ProxyAnswer(429, {"retry-after": "1"}, b"Rate limit exceeded"), trouble))
    await w.connected()
    client = await w.client()
    for _ in range(3):
        await w.access.proxy(client, "s-1", call())
    view = await w.access.connection(client, "s-1")
    assert not isinstance(view, ApiRefusal) and view.status is LinkStatus.DEGRADED
    assert w.uow.committed.connections[("m-1", TENANT)].status is ConnectionStatus.ACTIVE
    await w.access.proxy(client, "s-1", call())                       # the script's default: 200
    view = await w.access.connection(client, "s-1")
    assert not isinstance(view, ApiRefusal) and view.status is LinkStatus.ACTIVE
