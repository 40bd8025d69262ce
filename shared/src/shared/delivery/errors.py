"""Which errors mean "not now" rather than "never": the one definition every retry decision uses.

An infrastructure error says nothing about the work itself: the same record, row or request succeeds once
the database, the network or the broker is back. So it is retried for as long as it lasts and never
counted toward a give-up limit (a consumer's `max_attempts`, a delivery's parking): counting it would
dead-letter good events during a PostgreSQL failover. Everything else (a bug, a broken invariant, bad
data) is counted.

PostgreSQL's "try again" errors are whole SQLSTATE classes, so a new leaf of one is covered too:
08 connection exception, 40 transaction rollback (serialization failure, deadlock), 53 insufficient
resources (too many connections, out of memory, disk full), 57 operator intervention (admin or crash
shutdown, cannot connect now, statement timeout or cancel), 58 system error (I/O), plus 25006 read-only
transaction (a failover left us on a standby), the idle-in-transaction and transaction timeouts, 55P03
lock not available, and asyncpg's client-side "the connection is gone" errors. Left out on purpose,
because they fail the same way every time: 40002 (a deferred constraint violated at commit), 08P01
protocol violation (a statement with the wrong number of parameters), and asyncpg's argument encoding and
configuration errors.
"""

from asyncpg import exceptions as pg

POSTGRES_TRY_AGAIN: tuple[type[BaseException], ...] = (
    pg.PostgresConnectionError, pg.TransactionRollbackError, pg.InsufficientResourcesError,
    pg.OperatorInterventionError, pg.PostgresSystemError, pg.ReadOnlySQLTransactionError,
    pg.IdleInTransactionSessionTimeoutError, pg.TransactionTimeoutError, pg.LockNotAvailableError,
    pg.InvalidCachedStatementError, pg.OutdatedSchemaCacheError, pg.TargetServerAttributeNotMatched,
    pg.InterfaceError)
"""PostgreSQL (and asyncpg) errors that go away by themselves; see `is_infrastructure` for the exceptions."""

_NEVER: tuple[type[BaseException], ...] = (
    pg.TransactionIntegrityConstraintViolationError, pg.ProtocolViolationError, pg.UnsupportedClientFeatureError,
    pg.UnsupportedServerFeatureError, ValueError)  # ValueError: asyncpg's argument-encoding and config errors

INFRASTRUCTURE_ERRORS: tuple[type[BaseException], ...] = (OSError, TimeoutError, *POSTGRES_TRY_AGAIN)
"""For `except` clauses; `is_infrastructure` is the precise test (it also leaves out `_NEVER`)."""


def is_infrastructure(error: BaseException) -> bool:
    """True when `error` means "not now": one of INFRASTRUCTURE_ERRORS (not a deterministic leaf of one), an
    error raised `from` one (an adapter that wraps the driver's error), or a group made only of them."""
    if isinstance(error, BaseExceptionGroup):
        return all(is_infrastructure(e) for e in error.exceptions)
    if isinstance(error, INFRASTRUCTURE_ERRORS) and not isinstance(error, _NEVER):
        return True
    return error.__cause__ is not None and is_infrastructure(error.__cause__)
