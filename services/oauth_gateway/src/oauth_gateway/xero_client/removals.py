"""An organisation whose access was removed inside Xero (Xero sends no webhook for that)."""

import logging
from dataclasses import replace
from datetime import datetime

from shared.contracts import DisconnectReason

from ..domain import events
from ..domain.model import Connection, ConnectionStatus
from ..ports import RemovalWork

log = logging.getLogger(__name__)


async def mark_removed(tx: RemovalWork, connection: Connection, now: datetime) -> None:
    """Xero no longer lets us act on this organisation: the connection is broken, its stores disconnected."""
    await tx.connections.save(replace(connection, status=ConnectionStatus.BROKEN), now, "removed_in_xero")
    await tx.outbox.publish(events.org_disconnected(connection, DisconnectReason.REMOVED_IN_XERO, events.XERO_ACTOR))
    await tx.audit.record(now, events.XERO_ACTOR, "organisation.removed_in_xero", connection.merchant_id,
                          connection.tenant_id)
    log.warning("Xero organisation %s was removed inside Xero for merchant %s", connection.tenant_id,
                connection.merchant_id)
