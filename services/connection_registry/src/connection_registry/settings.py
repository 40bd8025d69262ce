"""The registry's configuration, from `CONNECTION_REGISTRY_*` environment variables (nested with `__`)."""

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.settings import DatabaseSettings, HttpSettings, KafkaSettings


class RegistrySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CONNECTION_REGISTRY_", env_nested_delimiter="__",
                                      hide_input_in_errors=True)

    database: DatabaseSettings
    kafka: KafkaSettings
    http: HttpSettings = HttpSettings(port=8103)
    api_token: SecretStr = Field(min_length=16, description="callers' bearer token on /v1 (the oauth_gateway's)")
    helpdesk_token: SecretStr = Field(min_length=16, description="shared sign-in token of the /helpdesk pages")
    helpdesk_session_hours: int = Field(default=8, ge=1, le=24 * 7)
    helpdesk_secure_cookie: bool = Field(default=True, description="false only when the pages are served over "
                                                                   "plain http (local runs)")


def example_settings() -> RegistrySettings:
    """Placeholder values that build the app without connecting: used to generate the AsyncAPI document."""
    return RegistrySettings(database={"url": "postgresql://connection_registry@postgres:5432/connection_registry"},
                            kafka={"bootstrap_servers": "kafka:9092"},
                            api_token="example-api-token-not-a-secret",
                            helpdesk_token="example-helpdesk-token-not-a-secret")
