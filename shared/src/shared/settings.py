"""Settings sections every service's own settings class nests (one class per service, env-driven)."""

from pydantic import BaseModel, Field


class KafkaSettings(BaseModel):
    bootstrap_servers: str = Field(min_length=3, description="host:port[,host:port]")
    consumer_group: str | None = Field(
        default=None, description="defaults to the service's name; a replay or a test may use its own")
    connect_wait_seconds: float = Field(
        default=5.0, ge=0, description="how long start-up waits for the broker before serving without it (the "
                                       "producer, relay and consumers then connect in the background)")


class DatabaseSettings(BaseModel):
    """The service's database and the limits every session of its pool runs under.

    The limits are PostgreSQL session settings (sent when each pool connection opens; 0 turns one off). They
    exist so that an instance which stops answering (SIGSTOP, a frozen VM or container, a debugger) cannot
    hold its row and advisory locks forever: PostgreSQL ends its session once it has sat inside a
    transaction for `idle_in_transaction_timeout_seconds`, which rolls the transaction back and frees its
    locks (and its uncommitted inbox claims), so another instance can take its work over. The defaults keep
    clear of the longest legitimate wait inside a transaction (the gateway's token refresh holds the grant
    row through up to three Xero calls of `xero.timeout_seconds`, 10 s each) and nest: a lock waiter gives
    up only after a frozen holder would have been cut off, a statement only after that.
    """

    url: str = Field(pattern=r"^postgres(ql)?://", description="the service's own PostgreSQL database")
    pool_min_size: int = 2
    pool_max_size: int = 10
    idle_in_transaction_timeout_seconds: float = Field(
        default=60, ge=0, description="end a session idle inside a transaction this long (idle_in_transaction"
                                      "_session_timeout): a frozen instance's locks are freed")
    lock_timeout_seconds: float = Field(
        default=90, ge=0, description="give up waiting for a lock after this long (lock_timeout); a consumer "
                                      "retries the record with backoff")
    statement_timeout_seconds: float = Field(
        default=120, ge=0, description="cancel a statement, lock waits included, after this long "
                                       "(statement_timeout); migrations are exempt")

    def server_settings(self, *, migrating: bool = False) -> dict[str, str]:
        """PostgreSQL session settings for the pool; `migrating`: without the lock and statement limits (a
        migration may wait for another instance's, or run long DDL), still freed if its instance freezes."""
        limits = {"idle_in_transaction_session_timeout": self.idle_in_transaction_timeout_seconds}
        if not migrating:
            limits |= {"lock_timeout": self.lock_timeout_seconds, "statement_timeout": self.statement_timeout_seconds}
        return {name: str(round(seconds * 1000)) for name, seconds in limits.items()}


class HttpSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
