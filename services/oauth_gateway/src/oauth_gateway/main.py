"""The composition root: the only module that wires adapters, use cases and entrypoints."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from functools import partial
from importlib.resources import files
from urllib.parse import urlsplit

import asyncpg
import httpx
from fastapi import FastAPI

from shared import client_address
from shared.contracts import ConsentAbandoned, MerchantErased, OrgDisconnected, OrgSelected, StoreConnected
from shared.delivery import Migrations, unit_of_work
from shared.http_limits import BodyLimit, Cap
from shared.metrics import instrument
from shared import retention
from shared.ports import Clock, UnitOfWork, utc_now
from shared.ratelimit import RATE_LIMIT_MIGRATIONS
from shared.runtime import ServiceRuntime, every, internal_app
from shared.tracing import inject_httpx

from .adapters.budget import BudgetShare, TenantBudget, XeroLimits
from .adapters.crypto import TokenCipher
from .adapters.pg_erasure import PgMerchantRows
from .adapters.pg_platform import PgPlatformReads, PgPlatformTransaction
from .adapters.postgres import PgGatewayTransaction
from .adapters.retention import retention_rules
from .adapters.services import CloudPosClient, KeyValidatorClient, RegistryClient
from .adapters.signin_budget import PgSignInBudget
from .adapters.xero_api import XeroApiClient
from .adapters.xero_identity import XeroIdentityClient
from .entrypoints import pages
from .entrypoints.platform_api import build_platform_api
from .entrypoints.web import Web
from .merchant.completions import CompletionDelivery
from .merchant import (
    Connect,
    Disconnect,
    MerchantUseCases,
    Reconnect,
    RefusalLog,
    Select,
    SessionLifetime,
    Sessions,
    Summaries,
)
from .ports import CallShare, SignInBudget, XeroApi, XeroIdentity
from .settings import GatewaySettings
from .domain.health import ReconnectLinks
from .domain.signin import Accounts, SignInLimits
from .domain.upkeep import UpkeepPlan
from .xero_client import Breaks, PlatformAccess, PlatformClients, Tokens, Upkeep, XeroClient, XeroJobs
from .xero_client.consents import AbandonedConsents
from .xero_client.erasure import MerchantErasure

MIGRATIONS = Migrations("oauth_gateway", files("oauth_gateway") / "migrations")


def build_app(settings: GatewaySettings, *, clock: Clock = utc_now) -> FastAPI:
    """The merchants' app; `app.state.platform_api` is the platform's internal API, served by the same process
    on its own listener (`settings.platform_http`) and sharing the runtime the merchants' app starts.
    `clock` lets tests move time (session idle, flow expiry, keep-alive) together with the Xero sandbox."""
    runtime = ServiceRuntime("oauth_gateway", database=settings.database, kafka=settings.kafka,
                             personal_data=settings.personal_data,
                             migrations=(RATE_LIMIT_MIGRATIONS, MIGRATIONS))
    retention.schedule(runtime, settings.retention, *retention_rules(settings.retention), clock=clock)
    runtime.publishes(StoreConnected, OrgSelected, OrgDisconnected, ConsentAbandoned)
    http = httpx.AsyncClient(timeout=settings.xero.timeout_seconds, follow_redirects=False,
                             event_hooks={"request": [inject_httpx]})  # one trace across services
    cipher = TokenCipher.from_base64({k: v.get_secret_value() for k, v in settings.token_keys.items()},
                                     settings.active_token_key_id)
    uow = unit_of_work(lambda: runtime.pool, partial(PgGatewayTransaction, cipher=cipher))
    identity = XeroIdentityClient(settings.xero, http)
    limits = XeroLimits(**settings.xero_limits.model_dump())
    budget = TenantBudget(lambda: runtime.pool, limits)
    api = XeroApiClient(settings.xero.api_base_url, http, budget)
    share = BudgetShare(lambda: runtime.pool, "upkeep", settings.upkeep.budget_share, limits)
    xero = build_xero_client(settings, uow, clock, identity, api, share)
    runtime.consumes(MerchantErased, MerchantErasure(PgMerchantRows(lambda: runtime.pool), xero.tokens, identity,
                                                     api).erased,
                     "Disconnect the merchant at Xero, then delete its sessions, consents, grants and connections.")
    if settings.upkeep.enabled:
        runtime.background("upkeep", partial(xero.upkeep.run, settings.upkeep.poll_seconds))
        runtime.background("housekeeping", every(settings.upkeep.housekeeping_every_seconds, xero.upkeep.housekeeping))
        runtime.background("xero-jobs", every(settings.upkeep.poll_seconds * 5, xero.jobs.run_due))
    consents = AbandonedConsents(uow, clock, xero.jobs, ttl=timedelta(hours=settings.consent_ttl_hours))
    if settings.consent_sweep_seconds > 0:
        runtime.background("consents", every(settings.consent_sweep_seconds, consents.sweep))
    completions = CompletionDelivery(uow, clock, RegistryClient(http, settings.registry.base_url,
                                                                settings.registry.api_token.get_secret_value()))
    if settings.completion_retry_seconds > 0:
        runtime.background("completions", every(settings.completion_retry_seconds, completions.run_once))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with runtime.lifespan(app), http:
            yield

    app = FastAPI(title="Xero setup (oauth_gateway)", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.add_middleware(BodyLimit, caps=[Cap("/", settings.http.form_max_bytes, pages.body_refused,
                                            urlencoded_only=True)])
    instrument(app, runtime)
    pages.install(app, callback_path=urlsplit(settings.xero.redirect_uri).path)
    client_address.install(app, settings.trusted_proxies)      # the merchants' pages only: no proxy before 8102
    app.state.internal = internal_app(runtime)
    app.state.runtime, app.state.settings, app.state.xero, app.state.sealer = runtime, settings, xero, cipher
    app.state.web, app.state.consents = Web(settings), consents
    app.state.completions = completions
    sign_in_budget = PgSignInBudget(lambda: runtime.pool, sign_in_limits(settings))
    app.state.merchant = build_merchant_use_cases(settings, uow, clock, http, xero, identity, api, cipher,
                                                  sign_in_budget)
    app.state.platform_api = build_platform_api(
        PlatformAccess(PgPlatformReads(lambda: runtime.pool), uow, clock, xero.tokens, api, xero.breaks,
                       wanted_scopes=settings.xero.scopes, max_wait=settings.proxy_max_wait_seconds),
        max_body_bytes=settings.proxy_max_body_bytes)
    return app


@asynccontextmanager
async def platform_clients(database_url: str) -> AsyncIterator[PlatformClients]:
    """What `python -m oauth_gateway clients` works with: the gateway's database, nothing else."""
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=1)
    try:
        yield PlatformClients(unit_of_work(lambda: pool, PgPlatformTransaction), utc_now)
    finally:
        await pool.close()


def build_xero_client(settings: GatewaySettings, uow: UnitOfWork[PgGatewayTransaction], clock: Clock,
                      identity: XeroIdentity, api: XeroApi, share: CallShare) -> XeroClient:
    breaks = Breaks(reconnect_links(settings))
    tokens = Tokens(uow, clock, identity, breaks)
    jobs = XeroJobs(uow, clock, tokens, identity, api, consent_ttl=timedelta(hours=settings.consent_ttl_hours))
    plan = UpkeepPlan(keepalive_every=timedelta(hours=settings.upkeep.keepalive_every_hours),
                      check_every=timedelta(seconds=settings.upkeep.check_every_seconds))
    upkeep = Upkeep(uow, uow, clock, tokens, api, breaks, share, plan,
                    session_idle=timedelta(minutes=settings.session_idle_minutes),
                    batch_size=settings.upkeep.batch_size, concurrency=settings.upkeep.concurrency)
    return XeroClient(tokens, jobs, upkeep, breaks)


def sign_in_limits(settings: GatewaySettings) -> SignInLimits:
    limits = settings.sign_in
    return SignInLimits.of(limits.cloudpos_lockout_threshold, limits.failures_per_account, limits.account_memory,
                           limits.failures_per_address, timedelta(seconds=limits.address_window_seconds))


def reconnect_links(settings: GatewaySettings) -> ReconnectLinks:
    return ReconnectLinks(settings.session_secret.get_secret_value().encode(), settings.public_base_url)


def build_merchant_use_cases(settings: GatewaySettings, uow: UnitOfWork[PgGatewayTransaction], clock: Clock,
                             http: httpx.AsyncClient, xero: XeroClient, identity: XeroIdentity, api: XeroApi,
                             cipher: TokenCipher, sign_in_budget: SignInBudget) -> MerchantUseCases:
    refusal_log = RefusalLog(uow, clock)
    summaries = Summaries(uow, clock, RegistryClient(http, settings.registry.base_url,
                                                     settings.registry.api_token.get_secret_value()),
                          wanted_scopes=settings.xero.scopes, consent_ttl=timedelta(hours=settings.consent_ttl_hours))
    key_validator = KeyValidatorClient(http, settings.key_validator.base_url,
                                       settings.key_validator.api_token.get_secret_value())
    lifetime = SessionLifetime(timedelta(minutes=settings.session_idle_minutes),
                               timedelta(hours=settings.session_absolute_hours))
    return MerchantUseCases(
        sessions=Sessions(uow, clock, CloudPosClient(http, settings.cloudpos), key_validator, refusal_log, lifetime,
                          sign_in_budget, Accounts(settings.session_secret.get_secret_value().encode())),
        connect=Connect(uow, clock, identity, api, cipher, refusal_log, issuer=settings.xero.issuer,
                        flow_ttl=timedelta(seconds=settings.flow_ttl_seconds)),
        select=Select(uow, clock, api, xero.tokens, xero.jobs, summaries, refusal_log, xero.breaks,
                      consent_ttl=timedelta(hours=settings.consent_ttl_hours)),
        disconnect=Disconnect(uow, clock, xero.jobs, refusal_log),
        summaries=summaries,
        reconnect=Reconnect(summaries, reconnect_links(settings), clock, refusal_log))
