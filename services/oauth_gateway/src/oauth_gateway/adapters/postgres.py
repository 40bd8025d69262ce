"""The gateway's transaction: its rows, split by what they are about, on the delivery kit's transaction
(so events staged with `outbox.publish` leave only if the transaction commits)."""

from shared.delivery import Transaction

from .crypto import TokenCipher
from .pg_completions import PgCompletions
from .pg_platform import PgPlatformClients, PgStoreLinks
from .pg_web import PgFlows, PgSessions
from .pg_xero import PgAuditLog, PgConnections, PgGrants, PgJobs


class PgGatewayTransaction:
    """Satisfies every `*Work` Protocol of `ports`; each use case sees only the rows its Protocol names."""

    def __init__(self, tx: Transaction, cipher: TokenCipher) -> None:
        conn = tx.connection
        self.outbox = tx
        self.sessions = PgSessions(conn)
        self.flows = PgFlows(conn)
        self.grants = PgGrants(conn, cipher)
        self.connections = PgConnections(conn)
        self.jobs = PgJobs(conn)
        self.audit = PgAuditLog(conn)
        self.store_links = PgStoreLinks(conn)
        self.platform_clients = PgPlatformClients(conn)
        self.completions = PgCompletions(conn)
