""""Disconnect from Xero", and the Xero-side work it owes: DELETE the connection, then revoke the grant
once no connection is left on it. The local effect (connection ended, OrgDisconnected published) is
immediate; the Xero calls are jobs, tried at once and retried with backoff until they succeed.
"""

import logging
from dataclasses import replace
from datetime import datetime, timedelta
from uuid import UUID

from shared.contracts import DisconnectReason, OrgDisconnected

from ..domain.model import Connection, ConnectionStatus, GrantStatus, WebSession
from ..domain.problems import Problem
from ..ports import OAuthRejected, XeroUnavailable
from .common import XERO_ACTOR, Deps, envelope, refused
from .tokens import GrantBroken, TokenService

log = logging.getLogger(__name__)


async def mark_removed(tx, connection: Connection, now: datetime) -> None:  # noqa: ANN001 - GatewayTransaction
    """Xero no longer lets us act on this organisation (the app was removed inside Xero)."""
    await tx.save_connection(replace(connection, status=ConnectionStatus.BROKEN), now, "removed_in_xero")
    await tx.publish(envelope(OrgDisconnected(
        merchant_id=connection.merchant_id, tenant_id=connection.tenant_id,
        organisation_name=connection.organisation_name, reason=DisconnectReason.REMOVED_IN_XERO,
        actor=XERO_ACTOR), subject=str(connection.tenant_id)))
    await tx.audit(now, XERO_ACTOR, "organisation.removed_in_xero", connection.merchant_id, connection.tenant_id)
    log.warning("Xero organisation %s was removed inside Xero for merchant %s", connection.tenant_id,
                connection.merchant_id)


class DisconnectHandlers:
    def __init__(self, deps: Deps, tokens: TokenService) -> None:
        self._deps = deps
        self._tokens = tokens

    async def disconnect(self, session: WebSession, tenant_id: str) -> None:
        try:
            tenant = UUID(tenant_id)
        except ValueError:
            raise await refused(self._deps, session, "organisation", tenant_id, _not_connected()) from None
        now = self._deps.clock()
        async with self._deps.unit_of_work() as tx:
            known = await tx.connection(session.merchant_id, tenant, lock=True)
            if known is not None and known.status is not ConnectionStatus.ACTIVE:
                raise _not_connected()        # theirs, already disconnected (a second click): nothing to audit
            job = await self._end(tx, session, known, now) if known is not None else None
        if known is None:                     # never this merchant's organisation
            raise await refused(self._deps, session, "organisation", tenant_id, _not_connected())
        if job is not None:
            await self.run_job(job)

    async def _end(self, tx, session: WebSession, known: Connection, now: datetime) -> int | None:  # noqa: ANN001
        """The local effect of a merchant's disconnect; returns the Xero job still owed, if any."""
        await tx.save_connection(replace(known, status=ConnectionStatus.DISCONNECTED), now, "merchant_request")
        await tx.publish(envelope(OrgDisconnected(
            merchant_id=known.merchant_id, tenant_id=known.tenant_id, organisation_name=known.organisation_name,
            reason=DisconnectReason.MERCHANT_REQUEST, actor=session.user_id), subject=str(known.tenant_id)))
        job = None if await tx.connection_in_use(known.connection_id) else await tx.add_job(
            "delete_connection", known.grant_id, known.merchant_id, session.user_id, now, known.tenant_id,
            known.connection_id)
        await tx.set_flash(session.session_hash, f"The stores linked to '{known.organisation_name}' are "
                           "being disconnected from Xero.")
        await tx.audit(now, session.user_id, "organisation.disconnect_requested", known.merchant_id, known.tenant_id)
        return job

    async def run_due(self) -> int:
        async with self._deps.unit_of_work() as tx:
            due = await tx.due_jobs(self._deps.clock())
        return sum([await self.run_job(job) for job in due])

    async def run_job(self, job_id: int) -> bool:
        """One attempt; True when the job is done. Never raises for Xero being away: it retries later."""
        follow_up = None
        async with self._deps.unit_of_work() as tx:
            job = await tx.take_job(job_id, self._deps.clock())
            if job is None:
                return False
            try:
                detail = await self._perform(tx, job)
                error, retry_at = None, None
            except XeroUnavailable as failure:
                detail, error = "xero_unavailable", str(failure)[:200]
                retry_at = self._deps.clock() + _backoff(job["attempts"], failure.retry_after)
            now = self._deps.clock()
            await tx.finish_job(job_id, now, error, retry_at)
            await tx.audit(now, job["actor"], f"xero.{job['kind']}", job["merchant_id"], job["tenant_id"],
                           attempt=job["attempts"] + 1, outcome=detail, will_retry=retry_at is not None)
            if error is None and job["kind"] == "delete_connection" \
                    and not await tx.connections_of_grant(job["grant_id"]):
                follow_up = await tx.add_job("revoke_grant", job["grant_id"], job["merchant_id"], job["actor"], now)
        if follow_up is not None:
            await self.run_job(follow_up)
        return error is None

    async def _perform(self, tx, job) -> str:  # noqa: ANN001 - transaction and job row
        if job["kind"] == "delete_connection":
            try:
                status = await self._tokens.with_token(
                    job["grant_id"], lambda token: self._deps.api.delete_connection(token, job["connection_id"]))
            except GrantBroken:
                return "grant_unusable"      # nothing can act at Xero with it any more
            return {204: "deleted", 404: "already_gone", 403: "not_visible"}.get(status, str(status))
        grant = await tx.grant(job["grant_id"], lock=True)
        if grant is None or grant.status is not GrantStatus.ACTIVE or grant.tokens is None:
            return "nothing_to_revoke"
        if await tx.connections_of_grant(grant.grant_id):
            return "still_in_use"
        try:
            await self._deps.identity.revoke(grant.tokens.refresh_token)
        except OAuthRejected as rejected:
            log.warning("revocation of grant %s refused: %s", grant.grant_id, rejected.error)
        await tx.save_grant(replace(grant, status=GrantStatus.REVOKED, tokens=None), self._deps.clock(), "revoked")
        return "revoked"


def _backoff(attempts: int, retry_after: int | None) -> timedelta:
    return timedelta(seconds=max(retry_after or 0, min(3600, 5 * 2 ** attempts)))


def _not_connected() -> Problem:
    return Problem(404, "not_connected", "That organisation is not connected",
                   "It may already have been disconnected. The summary shows what is connected now.")
