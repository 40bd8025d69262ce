"""The service's configuration, from `KEY_VALIDATOR_*` environment variables."""

from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.settings import DatabaseSettings, HttpSettings, KafkaSettings


class KeyValidatorSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KEY_VALIDATOR_", env_nested_delimiter="__")

    database: DatabaseSettings
    kafka: KafkaSettings
    http: HttpSettings = HttpSettings(port=8101)


def example_settings() -> KeyValidatorSettings:
    """Placeholder values that build the app without connecting: used to generate the AsyncAPI document."""
    return KeyValidatorSettings(database={"url": "postgresql://key_validator@postgres:5432/key_validator"},
                kafka={"bootstrap_servers": "kafka:9092"})
