"""What a benchmark at 10,000 merchants needs from the sandbox: seeded users that behave like consented ones,
calls that do not scan every user, connection and token, cheap call counters, and refresh answers lost after
the rotation (the client must then recover with the old token inside the grace period)."""

import httpx
import pytest

from sandboxes.xero import DEMO_PASSWORD, Clock, XeroSandboxSettings
from sandboxes.xero.control import Controls
from sandboxes.xero.state import XeroState
from sandboxes.xero.seed import seed_users

SCOPES = ["openid", "profile", "email", "offline_access", "accounting.settings.read"]


async def refresh(sandbox, refresh_token: str) -> httpx.Response:
    async with httpx.AsyncClient() as http:
        return await http.post(sandbox.token_url, data={"grant_type": "refresh_token", "refresh_token": refresh_token},
                               auth=(sandbox.client_id, sandbox.client_secret))


async def connections(sandbox, access_token: str) -> httpx.Response:
    async with httpx.AsyncClient() as http:
        return await http.get(f"{sandbox.base_url}/connections", headers={"Authorization": f"Bearer {access_token}"})


async def test_seeded_users_are_connected_like_consented_ones(sandbox):
    seeded = sandbox.control("POST", "/_sandbox/seed", {"users": 3, "orgs_per_user": 2, "prefix": "Bench"})
    assert seeded["scopes"] == SCOPES and len(seeded["users"]) == 3
    first, second = seeded["users"][0], seeded["users"][1]
    assert len(set(first["tenant_ids"]) | set(second["tenant_ids"])) == 4      # every user has orgs of their own

    tokens = (await refresh(sandbox, first["refresh_token"])).json()
    assert tokens["refresh_token"] != first["refresh_token"] and tokens["scope"] == " ".join(SCOPES)
    listed = (await connections(sandbox, tokens["access_token"])).json()
    assert [c["id"] for c in listed] == first["connection_ids"]
    assert [c["tenantId"] for c in listed] == first["tenant_ids"]
    assert [c["tenantName"] for c in listed] == first["organisation_names"]
    assert {c["authEventId"] for c in listed} == {first["auth_event_id"]}

    async with httpx.AsyncClient(base_url=sandbox.base_url) as browser:   # and can sign in at Xero
        login = await browser.post("/identity/user/login", data={"email": second["email"].upper(),
                                                                 "password": DEMO_PASSWORD, "ReturnUrl": "/"})
    assert login.status_code == 302

    stats = sandbox.control("GET", "/_sandbox/stats")
    assert (stats["users"], stats["connections"]) == (2 + 3, 6)            # the two demo users, the seeded ones
    assert stats["calls"]["api"] == 1 and stats["calls"]["by_route"]["POST /connect/token"] == {"200": 1}


async def test_seed_refuses_scopes_the_app_may_not_ask_for(sandbox):
    async with httpx.AsyncClient() as http:
        refused = await http.post(f"{sandbox.base_url}/_sandbox/seed", json={"users": 1, "scopes": ["payroll.x"]},
                                  headers={"x-sandbox-control-token": sandbox.control_token})
    assert refused.status_code == 400 and sandbox.control("GET", "/_sandbox/stats")["users"] == 2


class NoScan(dict):
    """A dict that may be looked into by key but never walked whole: a walk is O(number of users)."""

    def _walked(self, *_: object) -> None:
        raise AssertionError("walked every entry")

    __iter__ = values = items = keys = _walked


def test_calls_look_up_users_connections_and_tokens_without_scanning_them():
    state = XeroState(Clock(), XeroSandboxSettings(client_id="C", client_secret="s", redirect_uris=["http://x/cb"],
                                                   control_token="t", refresh_requires_connection=True))
    seeded = seed_users(state, 2000, 2, SCOPES, "Scale")
    one, other = seeded[1234], seeded[99]
    state.connections, state.refresh_tokens, state.users = (NoScan(state.connections), NoScan(state.refresh_tokens),
                                                            NoScan(state.users))
    assert state.login(one["email"], DEMO_PASSWORD).sub == one["sub"]
    assert [c.id for c in state.connections_for(one["sub"], "C")] == one["connection_ids"]
    assert state.find_connection(one["sub"], "C", one["tenant_ids"][1]).id == one["connection_ids"][1]
    rotated = state.rotate(one["refresh_token"], "C")
    assert rotated is not None and rotated[0].sub == one["sub"]
    assert state.delete_connection(one["sub"], "C", one["connection_ids"][0]) == 204
    assert state.revoke(rotated[1], "C") is True
    assert state.connections_for(one["sub"], "C") == [] and state.rotate(one["refresh_token"], "C") is None
    assert state.rotate(other["refresh_token"], "C") is not None           # nobody else's grant was touched


@pytest.mark.parametrize("mode", ["504", "abort"])
async def test_a_dropped_refresh_answer_has_rotated_and_the_old_token_recovers(sandbox, mode):
    user = sandbox.control("POST", "/_sandbox/seed", {"users": 1})["users"][0]
    assert sandbox.control("POST", "/_sandbox/refresh-drops", {"fraction": 1, "mode": mode}) == {
        "fraction": 1, "mode": mode, "dropped": 0}
    if mode == "504":
        lost = await refresh(sandbox, user["refresh_token"])
        assert lost.status_code == 504 and "refresh_token" not in lost.text
    else:
        with pytest.raises(httpx.TransportError):                          # no usable answer at all
            await refresh(sandbox, user["refresh_token"])
    state = sandbox.state()
    assert state["grants"][0]["rotated_at"] is not None and len(state["grants"]) == 2   # Xero did rotate
    assert sandbox.control("GET", "/_sandbox/stats")["dropped_refresh_answers"] == 1

    sandbox.control("POST", "/_sandbox/refresh-drops", {"fraction": 0})
    again = await refresh(sandbox, user["refresh_token"])                  # the same token, within the grace
    assert again.status_code == 200 and again.json()["refresh_token"] != user["refresh_token"]
    assert sandbox.control("GET", "/_sandbox/stats")["dropped_refresh_answers"] == 1


async def test_drops_hit_only_successful_refreshes_and_a_fraction_of_them(sandbox):
    users = sandbox.control("POST", "/_sandbox/seed", {"users": 200})["users"]
    sandbox.control("POST", "/_sandbox/refresh-drops", {"fraction": 0.25, "seed": 7})
    statuses = [(await refresh(sandbox, u["refresh_token"])).status_code for u in users]
    assert (await refresh(sandbox, "not-a-token")).status_code == 400        # a refusal is never dropped
    dropped = sandbox.control("GET", "/_sandbox/stats")["dropped_refresh_answers"]
    assert statuses.count(504) == dropped and statuses.count(200) == 200 - dropped
    assert 25 <= dropped <= 75                                              # 50 expected; seeded dice
    token = await sandbox.connect()                                         # a code exchange is never dropped
    assert token["refresh_token"]


def test_the_call_log_keeps_the_latest_calls_and_counts_them_all():
    controls = Controls(call_log_limit=3)
    for i in range(5):
        controls.record({"method": "GET", "path": f"/connections/{i}", "status": 204, "tenant_id": None})
    controls.record({"method": "POST", "path": "/connect/token", "status": 200, "tenant_id": None})
    assert [c["path"] for c in controls.calls] == ["/connections/3", "/connections/4", "/connect/token"]
    assert controls.totals() == {"total": 6, "api": 5, "by_route": {"GET /connections/{id}": {"204": 5},
                                                                    "POST /connect/token": {"200": 1}}}
