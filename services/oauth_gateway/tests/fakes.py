"""Hand-written in-memory fakes of the gateway's ports; a unit of work commits only on a clean exit."""

import copy
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from uuid import UUID

from oauth_gateway.domain.model import Connection, ConnectionStatus, Flow, Grant, GrantStatus
from oauth_gateway.ports import OAuthRejected, OrganisationInfo, TokenResponse, XeroConnection


@dataclass
class State:
    sessions: dict = field(default_factory=dict)
    flows: dict = field(default_factory=dict)            # flow_id -> [flow, state_hash, verifier]
    grants: dict = field(default_factory=dict)
    connections: dict = field(default_factory=dict)
    jobs: dict = field(default_factory=dict)
    audit: list = field(default_factory=list)
    outbox: list = field(default_factory=list)


class FakeTransaction:
    def __init__(self, state: State) -> None:
        self.s = state

    async def publish(self, *events) -> None:
        self.s.outbox.extend(events)

    async def audit(self, now, actor, action, merchant_id=None, tenant_id=None, **detail) -> None:
        self.s.audit.append((action, merchant_id, tenant_id, detail))

    async def set_flash(self, session_hash, text) -> None:
        pass

    async def add_flow(self, flow: Flow, state_hash: bytes, sealed_verifier: str) -> None:
        self.s.flows[flow.flow_id] = [flow, state_hash, sealed_verifier]

    async def claim_flow(self, state_hash: bytes):
        for entry in self.s.flows.values():
            if entry[1] == state_hash and entry[0].status == "pending":
                entry[0] = replace(entry[0], status="exchanging")
                return entry[0], entry[2]
        return None

    async def flow(self, flow_id: UUID, *, lock: bool = False):
        entry = self.s.flows.get(flow_id)
        return entry[0] if entry else None

    async def save_flow(self, flow: Flow, outcome=None) -> None:
        self.s.flows[flow.flow_id][0] = flow

    async def grant(self, grant_id: str, *, lock: bool = False):
        return self.s.grants.get(grant_id)

    async def grant_of_user(self, sub: str):
        return next((g for g in self.s.grants.values() if g.xero_sub == sub), None)

    async def save_grant(self, grant: Grant, now, reason=None) -> Grant:
        saved = replace(grant, version=grant.version + 1)
        self.s.grants[grant.grant_id] = saved
        return saved

    async def save_connection(self, c: Connection, now, reason=None) -> None:
        self.s.connections[(c.merchant_id, c.tenant_id)] = c

    async def connection(self, merchant_id, tenant_id, *, lock=False):
        return self.s.connections.get((merchant_id, tenant_id))

    async def connections_of_grant(self, grant_id):
        return [c for c in self.s.connections.values() if c.grant_id == grant_id and c.status == "active"]

    async def connection_in_use(self, connection_id) -> bool:
        return any(c.connection_id == connection_id and c.status is ConnectionStatus.ACTIVE
                   for c in self.s.connections.values())

    async def add_job(self, kind, grant_id, merchant_id, actor, now, tenant_id=None, connection_id=None) -> int:
        job_id = len(self.s.jobs) + 1
        self.s.jobs[job_id] = {"job_id": job_id, "kind": kind, "grant_id": grant_id, "merchant_id": merchant_id,
                               "actor": actor, "tenant_id": tenant_id, "connection_id": connection_id,
                               "attempts": 0, "done": False}
        return job_id

    async def take_job(self, job_id, now):
        job = self.s.jobs.get(job_id)
        return job if job and not job["done"] else None

    async def finish_job(self, job_id, now, error, retry_at) -> None:
        self.s.jobs[job_id].update(attempts=self.s.jobs[job_id]["attempts"] + 1, done=error is None)


class FakeUnitOfWork:
    def __init__(self) -> None:
        self.committed = State()

    @asynccontextmanager
    async def __call__(self):
        tx = FakeTransaction(copy.deepcopy(self.committed))
        yield tx
        self.committed = tx.s


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class FakeIdentity:
    """Token endpoint behaviour without HTTP; counts refreshes."""

    def __init__(self, event_id: UUID, sub: str = "sub-1") -> None:
        self.event_id, self.sub, self.refreshes, self.refuse = event_id, sub, 0, None

    async def authorize_url(self, state, nonce, code_challenge) -> str:
        return f"https://login.example/authorize?state={state}"

    async def exchange_code(self, code, verifier) -> TokenResponse:
        return TokenResponse("access-1", "refresh-1", 1800, ("openid",), "id-token")

    async def refresh(self, refresh_token) -> TokenResponse:
        self.refreshes += 1
        if self.refuse:
            raise OAuthRejected(self.refuse)
        return TokenResponse(f"access-{self.refreshes + 1}", f"refresh-{self.refreshes + 1}", 1800, ("openid",))

    async def revoke(self, refresh_token) -> None:
        pass

    async def verify_id_token(self, id_token, nonce, access_token, now) -> dict:
        return {"sub": self.sub}

    async def access_claims(self, access_token) -> dict:
        return {"sub": self.sub, "authentication_event_id": str(self.event_id)}


class FakeApi:
    def __init__(self, connections: list[XeroConnection], plans: dict[UUID, str]) -> None:
        self.listed, self.plans, self.deleted = connections, plans, []

    async def connections(self, access_token, auth_event_id=None):
        return list(self.listed)        # deliberately unfiltered: the handler must match the event id itself

    async def delete_connection(self, access_token, connection_id) -> int:
        self.deleted.append(connection_id)
        return 204

    async def organisation(self, access_token, tenant_id) -> OrganisationInfo:
        return OrganisationInfo(tenant_id, f"Org {str(tenant_id)[:4]}", self.plans[tenant_id], False)


class PlainSealer:
    def seal(self, plain: str, context: str) -> str:
        return f"{context}|{plain}"

    def open(self, sealed: str, context: str) -> str:
        assert sealed.startswith(context + "|")
        return sealed.split("|", 1)[1]


class NoRegistry:
    async def summary(self, merchant_id):
        return None

    async def complete(self, merchant_id, completed_by) -> int:
        return 202


def active_grant(grant_id: str = "g-1", expires_in: timedelta = timedelta(minutes=30)) -> Grant:
    from oauth_gateway.domain.model import TokenSet
    now = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    return Grant(grant_id, "sub-1", 1, GrantStatus.ACTIVE, TokenSet("access-1", "refresh-1", now + expires_in,
                                                                    ("openid",)), now)
