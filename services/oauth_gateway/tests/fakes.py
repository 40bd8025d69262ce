"""Hand-written in-memory fakes of the gateway's ports; a unit of work commits only on a clean exit."""

import copy
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from uuid import UUID

from oauth_gateway.domain.model import (
    MAY_HAVE_REMOVED,
    Connection,
    ConnectionStatus,
    Flow,
    FlowStatus,
    Grant,
    GrantStatus,
    JobKind,
    StoreRef,
    TokenSet,
    WebSession,
    XeroJob,
)
from oauth_gateway.domain.health import ReconnectLinks
from oauth_gateway.domain.platform import PlatformClient, StoreConnection, StoreLink
from oauth_gateway.domain.upkeep import DueGrant, Schedule
from oauth_gateway.domain.completion import PendingCompletion
from oauth_gateway.ports import (
    BudgetExhausted,
    KeyValidation,
    OAuthRejected,
    OrganisationInfo,
    ServiceRefusal,
    ServiceUnavailable,
    SignedIn,
    SignInTicket,
    TokenResponse,
    XeroConnection,
)

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
EPOCH = datetime.min.replace(tzinfo=UTC)
LINKS = ReconnectLinks(b"reconnect-link-secret-for-tests", "https://setup.example")


@dataclass
class State:
    sessions: dict = field(default_factory=dict)
    flashes: dict = field(default_factory=dict)
    flows: dict = field(default_factory=dict)            # flow_id -> [flow, state_hash, verifier]
    grants: dict = field(default_factory=dict)
    connections: dict = field(default_factory=dict)
    jobs: dict = field(default_factory=dict)
    audit: list = field(default_factory=list)
    outbox: list = field(default_factory=list)
    reasons: dict = field(default_factory=dict)          # (merchant_id, tenant_id) -> why it changed
    class_checked: dict = field(default_factory=dict)    # (merchant_id, tenant_id) -> when Class was re-read
    store_links: dict = field(default_factory=dict)      # store_id -> StoreLink
    clients: dict = field(default_factory=dict)          # token hash -> [client, disabled_at]
    upkeep: dict = field(default_factory=dict)           # grant_id -> next due times, failures, leases
    completions: dict = field(default_factory=dict)      # merchant_id -> kept "I have finished" (a dict per row)


class _Rows:
    def __init__(self, state: State) -> None:
        self.s = state


class FakeSessions(_Rows):
    async def add(self, session: WebSession) -> None:
        self.s.sessions[session.session_hash] = session

    async def get(self, session_hash: bytes) -> WebSession | None:
        return self.s.sessions.get(session_hash)

    async def touch(self, session_hash: bytes, now: datetime) -> None:
        self.s.sessions[session_hash] = replace(self.s.sessions[session_hash], last_seen_at=now)

    async def set_stores(self, session_hash: bytes, stores: tuple[StoreRef, ...], key_label: str) -> None:
        self.s.sessions[session_hash] = replace(self.s.sessions[session_hash], stores=stores, key_label=key_label)

    async def set_flash(self, session_hash: bytes, text: str | None) -> None:
        self.s.flashes[session_hash] = text

    async def take_flash(self, session_hash: bytes) -> str | None:
        return self.s.flashes.pop(session_hash, None)

    async def drop(self, session_hash: bytes) -> None:
        self.s.sessions.pop(session_hash, None)

    async def purge(self, idle_before: datetime) -> None:
        self.s.sessions = {h: s for h, s in self.s.sessions.items() if s.last_seen_at >= idle_before}


class FakeFlows(_Rows):
    async def add(self, flow: Flow, state_hash: bytes, sealed_verifier: str) -> None:
        self.s.flows[flow.flow_id] = [flow, state_hash, sealed_verifier]

    async def claim(self, state_hash: bytes) -> tuple[Flow, str] | None:
        for entry in self.s.flows.values():
            if entry[1] == state_hash and entry[0].status is FlowStatus.PENDING:
                entry[0] = replace(entry[0], status=FlowStatus.EXCHANGING)
                return entry[0], entry[2]
        return None

    async def get(self, flow_id: UUID, *, lock: bool = False) -> Flow | None:
        entry = self.s.flows.get(flow_id)
        return entry[0] if entry else None

    async def save(self, flow: Flow, outcome: str | None = None) -> None:
        self.s.flows[flow.flow_id][0] = flow

    async def purge(self, created_before: datetime) -> None:
        self.s.flows = {i: e for i, e in self.s.flows.items()
                        if e[0].created_at >= created_before or e[0].status is FlowStatus.AUTHORISED}

    def _authorised(self, after: datetime | None = None) -> list[Flow]:
        return sorted((e[0] for e in self.s.flows.values() if e[0].status is FlowStatus.AUTHORISED
                       and (after is None or e[0].authorised_at >= after)), key=lambda f: f.authorised_at)

    async def abandonable(self, authorised_before: datetime, limit: int) -> list[Flow]:
        return [f for f in self._authorised() if f.authorised_at < authorised_before][:limit]

    async def awaiting_selection(self, merchant_id: str, authorised_after: datetime) -> list[Flow]:
        return [f for f in self._authorised(authorised_after) if f.merchant_id == merchant_id]


class FakeGrants(_Rows):
    async def get(self, grant_id: str, *, lock: bool = False) -> Grant | None:
        return self.s.grants.get(grant_id)

    async def of_user(self, xero_sub: str) -> Grant | None:
        return next((g for g in self.s.grants.values() if g.xero_sub == xero_sub), None)

    async def save(self, grant: Grant, now: datetime, reason: str | None = None) -> Grant:
        saved = replace(grant, version=grant.version + 1)
        self.s.grants[grant.grant_id] = saved
        self._upkeep(grant.grant_id)["refresh_lease"] = None
        if grant.tokens is not None:
            self._upkeep(grant.grant_id)["failures"] = 0
        return saved

    async def sealed_under_old_keys(self) -> list[str]:
        return []

    async def lease_refresh(self, grant_id: str, version: int, now: datetime, until: datetime) -> bool:
        grant, row = self.s.grants.get(grant_id), self._upkeep(grant_id)
        if grant is None or grant.version != version or grant.status is not GrantStatus.ACTIVE \
                or (row["refresh_lease"] and row["refresh_lease"] >= now):
            return False
        row["refresh_lease"] = until
        return True

    async def refresh_failed(self, grant_id: str, retry_at: datetime) -> None:
        row = self._upkeep(grant_id)
        row.update(refresh_lease=None, failures=row["failures"] + 1, keepalive=min(row["keepalive"], retry_at))

    async def claim_upkeep(self, now: datetime, limit: int, lease_until: datetime) -> list[DueGrant]:
        due = sorted((min(row["keepalive"], row["check"]), gid) for gid in self.s.grants
                     if self.s.grants[gid].status is GrantStatus.ACTIVE
                     and min((row := self._upkeep(gid))["keepalive"], row["check"]) <= now
                     and (row["lease"] is None or row["lease"] < now))[:limit]
        taken = []
        for _, gid in due:
            row = self._upkeep(gid)
            row["lease"] = lease_until
            taken.append(DueGrant(gid, self.s.grants[gid].refreshed_at, row["keepalive"] <= now, row["check"] <= now,
                                  row["failures"]))
        return taken

    async def schedule_upkeep(self, grant_id: str, schedule: Schedule) -> None:
        row = self._upkeep(grant_id)
        row.update(keepalive=schedule.next_keepalive_at, check=schedule.next_check_at or row["check"],
                   failures=schedule.failures, lease=None)

    def _upkeep(self, grant_id: str) -> dict:
        """A grant's upkeep columns; a new grant is due at once, like the table's '-infinity' defaults."""
        return self.s.upkeep.setdefault(grant_id, {"keepalive": EPOCH, "check": EPOCH, "failures": 0, "lease": None,
                                                   "refresh_lease": None})


class FakeConnections(_Rows):
    async def save(self, connection: Connection, now: datetime, reason: str | None = None) -> None:
        self.s.connections[(connection.merchant_id, connection.tenant_id)] = connection
        self.s.reasons[(connection.merchant_id, connection.tenant_id)] = reason

    async def get(self, merchant_id: str, tenant_id: UUID, *, lock: bool = False) -> Connection | None:
        return self.s.connections.get((merchant_id, tenant_id))

    async def active_of_grant(self, grant_id: str) -> list[Connection]:
        return [c for c in self.s.connections.values()
                if c.grant_id == grant_id and c.status is ConnectionStatus.ACTIVE]

    async def of_merchant(self, merchant_id: str) -> list[Connection]:
        return [c for c in self.s.connections.values() if c.merchant_id == merchant_id]

    async def in_use(self, connection_id: UUID) -> bool:
        return any(c.connection_id == connection_id and c.status is ConnectionStatus.ACTIVE
                   for c in self.s.connections.values())

    async def class_check_due(self, grant_id: str, checked_before: datetime) -> list[Connection]:
        return [c for key, c in self.s.connections.items() if c.status is ConnectionStatus.ACTIVE
                and c.grant_id == grant_id and self.s.class_checked.get(key, EPOCH) < checked_before]

    async def class_checked(self, merchant_id: str, tenant_id: UUID, now: datetime) -> None:
        self.s.class_checked[(merchant_id, tenant_id)] = now

    async def wanted(self, connection_id: UUID, live_since: datetime, except_flow: UUID | None = None) -> bool:
        return await self.in_use(connection_id) or any(
            f.flow_id != except_flow and any(o.connection_id == connection_id for o in f.organisations)
            for f in _awaiting(self.s, live_since))

    async def grant_wanted(self, grant_id: str, live_since: datetime) -> bool:
        return bool(await self.active_of_grant(grant_id)) or any(f.grant_id == grant_id
                                                                 for f in _awaiting(self.s, live_since))


def _awaiting(state: State, since: datetime) -> list[Flow]:
    """Consents authorised since `since` and not yet confirmed (as PgConnections reads oauth_flows)."""
    return [e[0] for e in state.flows.values() if e[0].status is FlowStatus.AUTHORISED
            and e[0].authorised_at is not None and e[0].authorised_at >= since]


class FakeJobs(_Rows):
    """xero_jobs as PgJobs keeps them: a lease-based queue whose attempt number is the lease."""

    async def add(self, kind: JobKind, grant_id: str, merchant_id: str, actor: str, now: datetime,
                  tenant_id: UUID | None = None, connection_id: UUID | None = None,
                  flow_id: UUID | None = None) -> int:
        job_id = len(self.s.jobs) + 1
        self.s.jobs[job_id] = {"job": XeroJob(job_id, kind, grant_id, merchant_id, actor, 0, tenant_id,
                                              connection_id, flow_id),
                               "done": False, "next_at": now, "locked_until": None, "outcome": None,
                               "acted_until": None, "error": None}
        return job_id

    async def claim(self, now: datetime, lease_until: datetime, limit: int, job_id: int | None = None
                    ) -> list[XeroJob]:
        due = sorted((e["next_at"], i) for i, e in self.s.jobs.items()
                     if not e["done"] and e["next_at"] <= now and job_id in (None, i))[:limit]
        for _, i in due:
            entry = _folded(self.s.jobs[i])
            entry.update(job=replace(entry["job"], attempts=entry["job"].attempts + 1), locked_until=lease_until,
                         next_at=lease_until, outcome=None)
        return [self.s.jobs[i]["job"] for _, i in due]

    async def finish(self, job: XeroJob, now: datetime, outcome: str, retry_at: datetime | None = None,
                     error: str | None = None) -> bool:
        entry = self.s.jobs[job.job_id]
        if entry["done"] or entry["job"].attempts != job.attempts:
            return False
        entry.update(locked_until=now, outcome=outcome, error=error, done=retry_at is None, next_at=retry_at or now,
                     acted_until=now if outcome in MAY_HAVE_REMOVED else entry["acted_until"])
        return True

    async def supersede(self, now: datetime, *, connection_id: UUID | None = None,
                        grant_id: str | None = None) -> list[XeroJob]:
        ended = [e for e in self.s.jobs.values() if not e["done"] and _removes(e["job"], connection_id, grant_id)
                 and (e["locked_until"] is None or e["locked_until"] <= now)]
        for entry in ended:
            _folded(entry).update(done=True, outcome="superseded")
        return [e["job"] for e in ended]

    async def removing(self, connection_id: UUID, grant_id: str, since: datetime) -> XeroJob | None:
        found = [e["job"] for e in self.s.jobs.values() if _removes(e["job"], connection_id, grant_id)
                 and ((e["acted_until"] or EPOCH) >= since
                      or (e["outcome"] is None and (e["locked_until"] or EPOCH) >= since))]
        return found[-1] if found else None


def _removes(job: XeroJob, connection_id: UUID | None, grant_id: str | None) -> bool:
    return (job.kind is JobKind.DELETE_CONNECTION and job.connection_id == connection_id) or \
        (job.kind is JobKind.REVOKE_GRANT and job.grant_id == grant_id)


def _folded(entry: dict) -> dict:
    """An attempt that died without a record may have acted at Xero until its lease ended."""
    if entry["outcome"] is None and entry["locked_until"] is not None:
        entry["acted_until"] = max(entry["acted_until"] or EPOCH, entry["locked_until"])
    return entry


class FakeStoreLinks(_Rows):
    async def link(self, link: StoreLink) -> None:
        self.s.store_links[link.store_id] = link

    async def of_store(self, store_id: str) -> StoreConnection | None:
        link = self.s.store_links.get(store_id)
        key = (link.merchant_id, link.tenant_id) if link else None
        connection = self.s.connections.get(key)
        if connection is None:
            return None
        return StoreConnection(link, connection.organisation_name, connection.grant_id, connection.status,
                               self.s.reasons.get(key), connection.scopes, connection.incident_id,
                               connection.broken_since)

    async def of_connection(self, merchant_id: str, tenant_id: UUID) -> list[StoreLink]:
        return sorted((v for v in self.s.store_links.values() if (v.merchant_id, v.tenant_id) == (merchant_id,
                                                                                                 tenant_id)),
                      key=lambda link: link.store_id)

    async def of_merchant(self, merchant_id: str) -> list[StoreConnection]:
        found = [await self.of_store(k) for k, v in sorted(self.s.store_links.items()) if v.merchant_id == merchant_id]
        return [f for f in found if f is not None]

    async def unlink_organisation(self, merchant_id: str, tenant_id: UUID) -> int:
        doomed = [k for k, v in self.s.store_links.items() if (v.merchant_id, v.tenant_id) == (merchant_id, tenant_id)]
        for key in doomed:
            del self.s.store_links[key]
        return len(doomed)


class FakePlatformClients(_Rows):
    async def by_token_hash(self, token_hash: bytes) -> PlatformClient | None:
        entry = self.s.clients.get(token_hash)
        return entry[0] if entry and entry[1] is None else None

    async def put(self, client: PlatformClient, token_hash: bytes, now: datetime) -> None:
        for key in [k for k, v in self.s.clients.items() if v[0].name == client.name]:
            del self.s.clients[key]
        self.s.clients[token_hash] = [client, None]

    async def disable(self, name: str, now: datetime) -> bool:
        live = [v for v in self.s.clients.values() if v[0].name == name and v[1] is None]
        for entry in live:
            entry[1] = now
        return bool(live)

    async def listing(self) -> list:
        return sorted(((c, d) for c, d in self.s.clients.values()), key=lambda e: e[0].name)


class FakePlatformReads:
    """The hot path's lookups, reading what the fake unit of work last committed."""

    def __init__(self, uow: "FakeUnitOfWork") -> None:
        self.uow = uow

    async def client(self, token_hash: bytes) -> PlatformClient | None:
        return await FakePlatformClients(self.uow.committed).by_token_hash(token_hash)

    async def store(self, store_id: str) -> StoreConnection | None:
        return await FakeStoreLinks(self.uow.committed).of_store(store_id)


class FakeAuditLog(_Rows):
    async def record(self, now, actor, action, merchant_id=None, tenant_id=None, **detail) -> None:  # noqa: ANN001
        self.s.audit.append((action, merchant_id, tenant_id, detail))


class FakeOutbox(_Rows):
    async def publish(self, *events) -> None:  # noqa: ANN002
        self.s.outbox.extend(events)


class FakeCompletions(_Rows):
    """pending_completions: one row per merchant; `outcome` None while pending."""

    async def keep(self, merchant_id: str, completed_by: str, now: datetime) -> bool:
        if (row := self.s.completions.get(merchant_id)) and row["outcome"] is None:
            return False
        self.s.completions[merchant_id] = {"by": completed_by, "requested_at": now, "attempts": 0, "due": now,
                                           "error": None, "outcome": None}
        return True

    async def claim_due(self, now: datetime, lease_until: datetime, limit: int) -> list[PendingCompletion]:
        due = sorted((m for m, r in self.s.completions.items() if r["outcome"] is None and r["due"] <= now),
                     key=lambda m: self.s.completions[m]["due"])[:limit]
        for merchant_id in due:
            self.s.completions[merchant_id].update(attempts=self.s.completions[merchant_id]["attempts"] + 1,
                                                   due=lease_until)
        return [PendingCompletion(m, self.s.completions[m]["by"], self.s.completions[m]["requested_at"],
                                  self.s.completions[m]["attempts"]) for m in due]

    async def retry(self, merchant_id: str, at: datetime, error: str) -> None:
        if (row := self.s.completions.get(merchant_id)) and row["outcome"] is None:
            row.update(due=at, error=error)

    async def end(self, merchant_id: str, now: datetime, outcome: str) -> bool:
        if (row := self.s.completions.get(merchant_id)) and row["outcome"] is None:
            row.update(outcome=outcome, error=None)
            return True
        return False


class FakeTransaction:
    def __init__(self, state: State) -> None:
        self.state = state
        self.sessions, self.flows, self.grants = FakeSessions(state), FakeFlows(state), FakeGrants(state)
        self.connections, self.jobs = FakeConnections(state), FakeJobs(state)
        self.audit, self.outbox = FakeAuditLog(state), FakeOutbox(state)
        self.completions = FakeCompletions(state)
        self.store_links, self.platform_clients = FakeStoreLinks(state), FakePlatformClients(state)


class FakeUnitOfWork:
    def __init__(self) -> None:
        self.committed = State()

    @asynccontextmanager
    async def __call__(self):
        tx = FakeTransaction(copy.deepcopy(self.committed))
        yield tx
        self.committed = tx.state


class FakeClock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class FakeIdentity:
    """Token endpoint behaviour without HTTP; counts refreshes and revocations."""

    def __init__(self, event_id: UUID, sub: str = "sub-1") -> None:
        self.event_id, self.sub, self.refreshes, self.refuse, self.revoked = event_id, sub, 0, None, []

    async def authorize_url(self, state, nonce, code_challenge) -> str:  # noqa: ANN001
        return f"https://login.example/authorize?state={state}"

    async def exchange_code(self, code, verifier) -> TokenResponse:  # noqa: ANN001
        return TokenResponse("access-1", "refresh-1", 1800, ("openid",), "id-token")

    async def refresh(self, refresh_token) -> TokenResponse:  # noqa: ANN001
        self.refreshes += 1
        if self.refuse:
            raise OAuthRejected(self.refuse)
        return TokenResponse(f"access-{self.refreshes + 1}", f"refresh-{self.refreshes + 1}", 1800, ("openid",))

    async def revoke(self, refresh_token) -> None:  # noqa: ANN001
        self.revoked.append(refresh_token)

    async def verify_id_token(self, id_token, nonce, access_token, now) -> dict:  # noqa: ANN001
        return {"sub": self.sub}

    async def access_claims(self, access_token) -> dict:  # noqa: ANN001
        return {"sub": self.sub, "authentication_event_id": str(self.event_id)}


class FakeApi:
    """Xero's API host: `failure` (an exception) is raised by the next calls until cleared."""

    def __init__(self, connections: list[XeroConnection], plans: dict[UUID, str]) -> None:
        self.listed, self.plans, self.deleted, self.failure = connections, plans, [], None

    async def connections(self, access_token, auth_event_id=None):  # noqa: ANN001
        self._maybe_fail()
        return list(self.listed)        # deliberately unfiltered: the handler must match the event id itself

    async def delete_connection(self, access_token, connection_id) -> int:  # noqa: ANN001
        self._maybe_fail()
        self.deleted.append(connection_id)
        return 204

    async def organisation(self, access_token, tenant_id) -> OrganisationInfo:  # noqa: ANN001
        self._maybe_fail()
        return OrganisationInfo(tenant_id, f"Org {str(tenant_id)[:4]}", self.plans[tenant_id], False)

    def _maybe_fail(self) -> None:
        if self.failure is not None:
            raise self.failure


class FakeShare:
    """The upkeep share of the budget: `room` turns, then BudgetExhausted (None: unlimited)."""

    def __init__(self, room: int | None = None) -> None:
        self.room, self.turns = room, 0

    async def turn(self, *, max_wait: float) -> None:
        if self.room is not None and self.turns >= self.room:
            raise BudgetExhausted("upkeep", 7)
        self.turns += 1


class PlainSealer:
    def seal(self, plain: str, context: str) -> str:
        return f"{context}|{plain}"

    def open(self, sealed: str, context: str) -> str:
        assert sealed.startswith(context + "|")
        return sealed.split("|", 1)[1]


class FakeCloudPos:
    """Cloud POS sign-in: one known user; any other password is refused the way Cloud POS refuses."""

    def __init__(self, password: str = "right") -> None:
        self.password, self.unavailable, self.calls = password, False, 0

    async def sign_in(self, username: str, password: str) -> SignedIn:
        self.calls += 1
        if self.unavailable:
            raise ServiceUnavailable("Cloud POS")
        if password != self.password:
            raise ServiceRefusal(401, "invalid_credentials", "Those details are not right.")
        return SignedIn("u-1", "m-1", "M", username)


class FakeSignInBudget:
    """Failures per account (two ceilings: stranger, known browser) and per address, without time: enough for
    the use case's decisions; the windows and the sharing are the PostgreSQL adapter's (test_signin)."""

    def __init__(self, stranger: int = 3, known_browser: int = 4, per_address: int = 20) -> None:
        self.stranger, self.known_browser, self.per_address = stranger, known_browser, per_address
        self.accounts: dict[str, int] = {}
        self.addresses: dict[str, int] = {}

    async def take(self, account: str, address: str, *, known_browser: bool) -> SignInTicket:
        ceiling = self.known_browser if known_browser else self.stranger
        if self.addresses.get(address, 0) >= self.per_address:
            return SignInTicket(refused_by="address", retry_after=600)
        if self.accounts.get(account, 0) >= ceiling:
            return SignInTicket(refused_by="account", retry_after=900)
        self.accounts[account] = self.accounts.get(account, 0) + 1
        self.addresses[address] = self.addresses.get(address, 0) + 1
        return SignInTicket(taken=(account, address))

    async def succeeded(self, account: str, ticket: SignInTicket) -> None:
        self.accounts[account] = 0
        self.addresses[ticket.taken[1]] -= 1

    async def not_counted(self, ticket: SignInTicket) -> None:
        account, address = ticket.taken
        self.accounts[account] -= 1
        self.addresses[address] -= 1


class FakeKeyValidator:
    """key_validator: answers with `stores` for `merchant_id`, or raises `refusal` when set."""

    def __init__(self, merchant_id: str = "m-1", stores: tuple[StoreRef, ...] = (StoreRef("s-1", "One"),)) -> None:
        self.merchant_id, self.stores, self.refusal = merchant_id, stores, None

    async def validate(self, merchant_id, user_id, api_key, client_address) -> KeyValidation:  # noqa: ANN001
        if self.refusal is not None:
            raise self.refusal
        return KeyValidation(self.merchant_id, "Xero API Client", self.stores)


class FakeRegistry:
    """connection_registry: no summary yet; `complete` answers 202 the first time, then 200. `unavailable`: it
    does not answer; `refusal`: it refuses (e.g. nothing_connected while our events have not reached it)."""

    def __init__(self) -> None:
        self.completed: list[str] = []
        self.calls = 0
        self.unavailable, self.refusal = False, None

    async def summary(self, merchant_id):  # noqa: ANN001
        return None

    async def complete(self, merchant_id, completed_by) -> int:  # noqa: ANN001
        self.calls += 1
        if self.unavailable:
            raise ServiceUnavailable("POST /v1/merchants/.../completion: ConnectError")
        if self.refusal is not None:
            raise self.refusal
        self.completed.append(merchant_id)
        return 202 if self.completed.count(merchant_id) == 1 else 200


def active_grant(grant_id: str = "g-1", expires_in: timedelta = timedelta(minutes=30)) -> Grant:
    return Grant(grant_id, "sub-1", 1, GrantStatus.ACTIVE, TokenSet("access-1", "refresh-1", NOW + expires_in,
                                                                    ("openid",)), NOW)
