"""The service's configuration, from `OAUTH_GATEWAY_*` environment variables (nested with `__`).

Pointing at real Xero is configuration only: `xero.issuer` is the OIDC discovery base and every
endpoint except the API host comes from the discovery document.
"""

import base64
import binascii
from datetime import timedelta
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.client_address import TrustedProxies
from shared.settings import CloudPosPaths, DatabaseSettings, HttpSettings, KafkaSettings, PersonalDataSettings
from shared.settings import RetentionSettings

_FOREVER = timedelta(days=3650)    # "until the owner signs in": a success empties the bucket

# Xero's 2026 granular scopes (valid for apps created before and after 2 March 2026) that a daily sales poster
# needs: create invoices and payments, find or create the contact, read accounts and tax rates (settings; also
# what the subscription gate's /Organisation read needs). Widening this list later makes every existing
# connection report `reconnect_needed` until its merchant consents again.
SALES_POSTER_SCOPES = ("openid", "profile", "email", "offline_access", "accounting.settings.read",
                       "accounting.contacts", "accounting.invoices", "accounting.payments")


class XeroSettings(BaseModel):
    issuer: str = Field(description="OIDC discovery base, e.g. https://identity.xero.com")
    api_base_url: str = Field(default="https://api.xero.com", description="Connections + Accounting API host")
    client_id: str = Field(min_length=1)
    client_secret: SecretStr = Field(min_length=1)
    redirect_uri: str = Field(description="registered exactly at Xero, e.g. https://setup.example/xero/callback")
    scopes: tuple[str, ...] = SALES_POSTER_SCOPES
    timeout_seconds: float = Field(default=10, gt=0)

    @field_validator("scopes")
    @classmethod
    def _needs_offline_access(cls, scopes: tuple[str, ...]) -> tuple[str, ...]:
        if not {"openid", "offline_access"} <= set(scopes):
            raise ValueError("scopes must include openid and offline_access")
        return scopes


class XeroLimitSettings(BaseModel):
    """Xero's API limits for this app (reference xero.md §6.1); a Starter-tier app has 1,000 calls a day."""

    concurrent: int = Field(default=5, ge=1)
    per_minute: int = Field(default=60, ge=1)
    per_day: int = Field(default=5_000, ge=1)
    app_per_minute: int = Field(default=10_000, ge=1)


class UpkeepSettings(BaseModel):
    """Keeping every grant alive and checked (a job queue every instance shares; `xero_client.upkeep`). With
    20,000 grants, the defaults spend about 1,330 /connections calls a minute (13 % of the app's 10,000)."""

    enabled: bool = Field(default=True, description="false: this instance takes no upkeep work (tests)")
    keepalive_every_hours: float = Field(default=168, gt=0, le=45 * 24,
                                         description="refresh an idle grant this often; Xero's idle expiry is 60 days")
    check_every_seconds: float = Field(default=900, gt=0, description="each grant's GET /connections: an "
                                       "organisation removed inside Xero is noticed within this; make run uses 30")
    batch_size: int = Field(default=25, ge=1, le=500, description="grants one instance takes at a time")
    concurrency: int = Field(default=8, ge=1, le=64, description="grants of a batch tended at once")
    poll_seconds: float = Field(default=1.0, gt=0, description="pause when nothing is due (jittered)")
    budget_share: float = Field(default=0.2, gt=0, le=1, description="most of the app minute checks may spend")
    housekeeping_every_seconds: float = Field(default=3600, gt=0, description="re-seal tokens, purge old rows")


class ServiceEndpoint(BaseModel):
    """An internal service we call over HTTP with a bearer token."""

    base_url: str
    api_token: SecretStr = Field(min_length=1)


class CloudPosSettings(BaseModel):
    base_url: str = Field(description="Cloud POS platform (the sandbox on 8720 locally)")
    paths: CloudPosPaths = Field(default_factory=CloudPosPaths, description="sign_in (docs/cloudpos-api.md)")


class SignInSettings(BaseModel):
    """Failed sign-ins the gateway passes on to Cloud POS (shared by every instance through PostgreSQL).

    Cloud POS locks an account after `cloudpos_lockout_threshold` failed sign-ins in a row and forgets them only
    when the owner signs in (the sandbox; set `cloudpos_forgets_failures_after_hours` if the platform forgets
    them sooner). A time window alone would let a stranger add up a lockout over a few windows, so the gateway
    remembers an account's failures as long as Cloud POS does, and stops asking Cloud POS once a stranger
    has spent `failures_per_account` (3 of 5): the answer is then the same as for a wrong password. The
    owner's browsers that signed in to the account before may go on to one below the threshold (4 of 5),
    and a success empties the count. Per address: 20 failures in 15 minutes stop a script trying many
    accounts (credential stuffing) while a shop's shared address with a few typos stays well inside.
    """

    cloudpos_lockout_threshold: int = Field(default=5, ge=3, description="Cloud POS's: failed sign-ins in a "
                                            "row that lock an account (the sandbox's CLOUDPOS_SANDBOX_LOCKOUT_"
                                            "THRESHOLD)")
    cloudpos_forgets_failures_after_hours: float | None = Field(
        default=None, gt=0, description="when Cloud POS forgets failures in a row; null: only at a sign-in")
    failures_per_account: int = Field(default=3, ge=1, description="a stranger's failures per account: below "
                                      "the lockout threshold minus one (the owner's known browsers keep one)")
    failures_per_address: int = Field(default=20, ge=1)
    address_window_seconds: int = Field(default=900, ge=1)
    known_browser_days: int = Field(default=180, ge=1, description="how long a browser that signed in is known")

    @model_validator(mode="after")
    def _stays_below_the_lockout(self) -> "SignInSettings":
        if self.failures_per_account >= self.cloudpos_lockout_threshold - 1:
            raise ValueError("failures_per_account must be below cloudpos_lockout_threshold - 1, so that nobody "
                             "can drive Cloud POS's lockout through the gateway")
        return self

    @property
    def account_memory(self) -> timedelta:
        hours = self.cloudpos_forgets_failures_after_hours
        return _FOREVER if hours is None else timedelta(hours=hours)


class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OAUTH_GATEWAY_", env_nested_delimiter="__",
                                      hide_input_in_errors=True)

    database: DatabaseSettings
    retention: RetentionSettings = RetentionSettings()   # shared.retention, docs/retention.md
    kafka: KafkaSettings
    personal_data: PersonalDataSettings | None = None   # keys for events' personal fields (Vault)
    http: HttpSettings = HttpSettings(port=8100)
    platform_http: HttpSettings = Field(default=HttpSettings(port=8102),
                                        description="the platform's internal API: its own listener, never public")
    xero_limits: XeroLimitSettings = XeroLimitSettings()
    proxy_max_body_bytes: int = Field(default=3_500_000, ge=1024, description="Xero's own cap is 3.5 MB per POST")
    proxy_max_wait_seconds: float = Field(default=2, ge=0, description="wait this long for budget, else 429")
    public_base_url: str = Field(description="where merchants reach the pages; https turns on Secure cookies")
    cloudpos: CloudPosSettings
    key_validator: ServiceEndpoint
    registry: ServiceEndpoint
    xero: XeroSettings
    session_secret: SecretStr = Field(min_length=32, description="HMAC key for CSRF tokens")
    token_keys: dict[str, SecretStr] = Field(min_length=1, description="key id -> base64 32-byte AES key")
    active_token_key_id: str
    session_idle_minutes: int = Field(default=30, ge=1)
    session_absolute_hours: int = Field(default=12, ge=1)
    flow_ttl_seconds: int = Field(default=600, ge=60, description="time allowed at Xero for one consent")
    consent_ttl_hours: float = Field(default=24, gt=0, description="how long a consent given at Xero waits for "
                                     "Confirm Selection (resumable from the stores page) before it is abandoned")
    consent_sweep_seconds: float = Field(default=300, ge=0, description="how often expired consents are "
                                         "abandoned (their Xero connections deleted); 0: off")
    upkeep: UpkeepSettings = UpkeepSettings()
    sign_in: SignInSettings = SignInSettings()
    trusted_proxies: TrustedProxies = Field(default=(), description="CIDRs of our own proxies (ingress, TLS "
                                            "terminator): X-Forwarded-For is believed only from them; none by "
                                            "default (comma-separated or a JSON list)")
    completion_retry_seconds: float = Field(default=5, ge=0, description="how often \"I have finished\" requests "
                                            "the registry could not take are offered again (each with its own "
                                            "backoff, 5 s to 10 min); 0: off")

    @field_validator("token_keys")
    @classmethod
    def _keys_are_aes_256(cls, keys: dict[str, SecretStr]) -> dict[str, SecretStr]:
        for key_id, value in keys.items():
            try:
                raw = base64.b64decode(value.get_secret_value(), validate=True)
            except binascii.Error:
                raise ValueError(f"token key {key_id!r} is not base64") from None
            if len(raw) != 32:
                raise ValueError(f"token key {key_id!r} must decode to 32 bytes")
        return keys

    @model_validator(mode="after")
    def _active_key_exists(self) -> "GatewaySettings":
        if self.active_token_key_id not in self.token_keys:
            raise ValueError("active_token_key_id must name one of token_keys")
        return self

    @property
    def secure_cookies(self) -> bool:
        return urlsplit(self.public_base_url).scheme == "https"

    @property
    def public_origin(self) -> str:
        parts = urlsplit(self.public_base_url)
        return f"{parts.scheme}://{parts.netloc}"


def example_settings() -> GatewaySettings:
    """Placeholder values that build the app without connecting: used to generate the AsyncAPI document."""
    placeholder_key = base64.b64encode(bytes(32)).decode()
    return GatewaySettings(
        database={"url": "postgresql://oauth_gateway@postgres:5432/oauth_gateway"},
        kafka={"bootstrap_servers": "kafka:9092"},
        public_base_url="http://localhost:8100",
        cloudpos={"base_url": "http://cloudpos-sandbox:8720"},
        key_validator={"base_url": "http://key-validator:8101", "api_token": "example"},
        registry={"base_url": "http://connection-registry:8103", "api_token": "example"},
        xero={"issuer": "http://xero-sandbox:8710", "api_base_url": "http://xero-sandbox:8710",
              "client_id": "EXAMPLE", "client_secret": "example",
              "redirect_uri": "http://localhost:8100/xero/callback"},
        session_secret="example-session-secret-of-32-chars!",
        token_keys={"example": placeholder_key}, active_token_key_id="example")
