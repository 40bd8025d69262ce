"""The registry's configuration, from `CONNECTION_REGISTRY_*` environment variables (nested with `__`)."""

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.settings import DatabaseSettings, HttpSettings, KafkaSettings, PersonalDataSettings
from shared.settings import RetentionSettings

URL = r"^https?://[^\s/?#]+(/[^\s?#]*)?$"


class StaffIdentitySettings(BaseModel):
    """The company's OpenID Connect provider, where helpdesk staff sign in (the console is its client)."""

    issuer: str = Field(pattern=URL, description="e.g. https://login.microsoftonline.com/<tenant>/v2.0")
    client_id: str = Field(min_length=1)
    client_secret: SecretStr = Field(min_length=8)
    redirect_uri: str = Field(pattern=URL, description="https://<registry>/helpdesk/callback, registered there")
    post_logout_redirect_uri: str = Field(pattern=URL, description="https://<registry>/helpdesk/signed-out")
    scopes: tuple[str, ...] = ("openid", "profile", "email")
    roles_claim: str = Field(default="roles", description="the ID-token claim listing the staff member's roles")
    agent_roles: frozenset[str] = frozenset({"helpdesk-agent"})
    lead_roles: frozenset[str] = frozenset({"helpdesk-lead"})


class ConsoleSettings(BaseModel):
    session_hours: float = Field(default=8, gt=0, le=24 * 7, description="a session's longest life")
    idle_minutes: float = Field(default=60, gt=0, le=24 * 60, description="no page view for this long ends it")
    secure_cookie: bool = Field(default=True, description="false only when served over plain http (local runs)")
    unfinished_after_days: float = Field(default=3, ge=0, description="stores connected this long ago and no "
                                                                      "'I have finished': the merchant is listed")
    reminder_gap_hours: float = Field(default=24, ge=0, description="at most one reminder per merchant this often")


class NotifierApiSettings(BaseModel):
    """The notifier's /v1 API: what was sent to whom, parked notifications, re-drive."""

    base_url: str = Field(pattern=URL, description="e.g. http://notifier:8104")
    api_token: SecretStr = Field(min_length=16)
    timeout_seconds: float = Field(default=2.0, gt=0, le=30)


class RegistrySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CONNECTION_REGISTRY_", env_nested_delimiter="__",
                                      hide_input_in_errors=True)

    database: DatabaseSettings
    retention: RetentionSettings = RetentionSettings()   # shared.retention, docs/retention.md
    kafka: KafkaSettings
    personal_data: PersonalDataSettings | None = None   # keys for events' personal fields (Vault)
    http: HttpSettings = HttpSettings(port=8103)
    api_token: SecretStr = Field(min_length=16, description="callers' bearer token on /v1 (the oauth_gateway's)")
    staff_identity: StaffIdentitySettings
    notifier: NotifierApiSettings
    console: ConsoleSettings = ConsoleSettings()


def example_settings() -> RegistrySettings:
    """Placeholder values that build the app without connecting: used to generate the AsyncAPI document."""
    return RegistrySettings(database={"url": "postgresql://connection_registry@postgres:5432/connection_registry"},
                            kafka={"bootstrap_servers": "kafka:9092"},
                            api_token="example-api-token-not-a-secret",
                            staff_identity={"issuer": "https://login.example.com", "client_id": "helpdesk-console",
                                            "client_secret": "example-client-secret",
                                            "redirect_uri": "https://registry.example.com/helpdesk/callback",
                                            "post_logout_redirect_uri": "https://registry.example.com/helpdesk/"
                                                                        "signed-out"},
                            notifier={"base_url": "http://notifier:8104", "api_token": "example-notifier-token-x"})
