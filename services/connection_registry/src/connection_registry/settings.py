"""The registry's configuration, from `CONNECTION_REGISTRY_*` environment variables."""

from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.settings import DatabaseSettings, HttpSettings, KafkaSettings


class RegistrySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CONNECTION_REGISTRY_", env_nested_delimiter="__")

    database: DatabaseSettings
    kafka: KafkaSettings
    http: HttpSettings = HttpSettings(port=8103)


def example_settings() -> RegistrySettings:
    """Placeholder values that build the app without connecting: used to generate the AsyncAPI document."""
    return RegistrySettings(database={"url": "postgresql://connection_registry@postgres:5432/connection_registry"},
                kafka={"bootstrap_servers": "kafka:9092"})
