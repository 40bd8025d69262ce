"""The service's configuration, from `OAUTH_GATEWAY_*` environment variables."""

from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.settings import DatabaseSettings, HttpSettings, KafkaSettings


class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OAUTH_GATEWAY_", env_nested_delimiter="__")

    database: DatabaseSettings
    kafka: KafkaSettings
    http: HttpSettings = HttpSettings(port=8100)


def example_settings() -> GatewaySettings:
    """Placeholder values that build the app without connecting: used to generate the AsyncAPI document."""
    return GatewaySettings(database={"url": "postgresql://oauth_gateway@postgres:5432/oauth_gateway"},
                kafka={"bootstrap_servers": "kafka:9092"})
