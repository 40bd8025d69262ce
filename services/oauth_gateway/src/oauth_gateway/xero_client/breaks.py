"""A connection that only the merchant can repair: one incident, one ConnectionBroken per store on it.

The connection and its store links stay (the merchant usually reconnects to the same organisation); the
merchant's page shows "Reconnect needed" with the reason, the notifier emails them the signed reconnect link
and tells the helpdesk. Breaking an already broken connection changes nothing: one incident, one email.
"""

import logging
from dataclasses import replace
from datetime import datetime
from uuid import uuid4

from shared.contracts import BreakReason

from ..domain import events
from ..domain.health import ReconnectLinks
from ..domain.model import Connection, ConnectionStatus
from ..ports import BreakWork

log = logging.getLogger(__name__)


class Breaks:
    def __init__(self, links: ReconnectLinks) -> None:
        self._links = links

    async def mark(self, tx: BreakWork, connection: Connection, reason: BreakReason, now: datetime,
                   actor: str) -> None:
        """In the caller's transaction, so the state and the events commit together."""
        if connection.status is ConnectionStatus.BROKEN:
            return
        broken = replace(connection, status=ConnectionStatus.BROKEN, incident_id=uuid4(), broken_since=now)
        await tx.connections.save(broken, now, reason.value)
        grant = await tx.grants.get(connection.grant_id)
        user = grant.xero_user if grant else None
        stores = await tx.store_links.of_connection(connection.merchant_id, connection.tenant_id)
        for link in stores:
            assert broken.incident_id is not None
            url = self._links.url(connection.merchant_id, link.store_id, broken.incident_id, now)
            await tx.outbox.publish(events.connection_broken(broken, link, reason, url, user))
        await tx.audit.record(now, actor, "connection.broken", connection.merchant_id, connection.tenant_id,
                              reason=reason.value, incident_id=str(broken.incident_id),
                              stores=[link.store_id for link in stores])
        log.warning("Xero connection of merchant %s to %s is broken (%s): %d store(s) need reconnecting",
                    connection.merchant_id, connection.tenant_id, reason.value, len(stores))
