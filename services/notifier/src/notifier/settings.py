"""The service's configuration, from `NOTIFIER_*` environment variables."""

from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.settings import DatabaseSettings, HttpSettings, KafkaSettings


class NotifierSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NOTIFIER_", env_nested_delimiter="__")

    database: DatabaseSettings
    kafka: KafkaSettings
    http: HttpSettings = HttpSettings(port=8104)


def example_settings() -> NotifierSettings:
    """Placeholder values that build the app without connecting: used to generate the AsyncAPI document."""
    return NotifierSettings(database={"url": "postgresql://notifier@postgres:5432/notifier"},
                kafka={"bootstrap_servers": "kafka:9092"})
