"""Settings sections every service's own settings class nests (one class per service, env-driven)."""

from pydantic import BaseModel, Field


class KafkaSettings(BaseModel):
    bootstrap_servers: str = Field(min_length=3, description="host:port[,host:port]")
    consumer_group: str | None = Field(
        default=None, description="defaults to the service's name; a replay or a test may use its own")


class DatabaseSettings(BaseModel):
    url: str = Field(pattern=r"^postgres(ql)?://", description="the service's own PostgreSQL database")
    pool_min_size: int = 2
    pool_max_size: int = 10


class HttpSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
