"""The service's configuration, from `KEY_VALIDATOR_*` environment variables (nested with `__`)."""

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.settings import CloudPosPaths, DatabaseSettings, HttpSettings, KafkaSettings, PersonalDataSettings
from shared.settings import RetentionSettings


class CloudPosSettings(BaseModel):
    """The Cloud POS platform API: the sandbox locally, the real platform by configuration."""

    base_url: str = Field(pattern=r"^https?://[^\s/?#]+(/[^\s?#]*)?$", description="e.g. http://cloudpos:8720")
    platform_token: SecretStr = Field(min_length=1, description="our bearer token on /api/v1")
    timeout_seconds: float = Field(default=5.0, gt=0, le=60, description="per request: connect, read, write")
    paths: CloudPosPaths = Field(default_factory=CloudPosPaths,
                                 description="key_introspection, merchant, merchant_stores (docs/cloudpos-api.md)")


class RateLimitSettings(BaseModel):
    """Failed validations allowed per window (shared by every instance through PostgreSQL).

    A merchant pasting a wrong key a few times stays well inside the merchant budget; a script
    guessing keys is stopped after a handful, and an address trying many merchants' accounts
    (credential stuffing) is stopped by the per-address budget.
    """

    failures_per_merchant: int = Field(default=5, ge=1)
    failures_per_client_address: int = Field(default=20, ge=1)
    window_seconds: int = Field(default=900, ge=1)


class KeyValidatorSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KEY_VALIDATOR_", env_nested_delimiter="__")

    database: DatabaseSettings
    retention: RetentionSettings = RetentionSettings()   # shared.retention, docs/retention.md
    kafka: KafkaSettings
    personal_data: PersonalDataSettings | None = None   # keys for events' personal fields (Vault)
    http: HttpSettings = HttpSettings(port=8101)
    cloudpos: CloudPosSettings
    api_token: SecretStr = Field(min_length=16, description="callers' bearer token (the oauth_gateway's)")
    key_fingerprint_secret: SecretStr = Field(
        min_length=32, description="HMAC-SHA256 pepper for stored key fingerprints; never in the database")
    rate_limit: RateLimitSettings = RateLimitSettings()


def example_settings() -> KeyValidatorSettings:
    """Placeholder values that build the app without connecting: used to generate the AsyncAPI document."""
    return KeyValidatorSettings(
        database={"url": "postgresql://key_validator@postgres:5432/key_validator"},
        kafka={"bootstrap_servers": "kafka:9092"},
        cloudpos={"base_url": "http://cloudpos:8720", "platform_token": "example-platform-token"},
        api_token="example-api-token-not-a-secret",
        key_fingerprint_secret="example-fingerprint-secret-not-a-secret")
