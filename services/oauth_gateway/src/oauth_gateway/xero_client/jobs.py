"""The Xero work owed after a local change: DELETE the connection, then revoke the grant once no
connection is left on it. The local effect (connection ended, OrgDisconnected published) is already
committed; these are jobs, tried at once and retried with backoff until they succeed."""

import logging
from dataclasses import replace
from datetime import timedelta

from ..domain.model import GrantStatus, JobKind, XeroJob
from ..ports import Clock, OAuthRejected, UnitOfWork, XeroApi, XeroIdentity, XeroUnavailable, XeroWork
from .tokens import GrantBroken, Tokens

log = logging.getLogger(__name__)
_DELETE_OUTCOMES = {204: "deleted", 404: "already_gone", 403: "not_visible"}


class XeroJobs:
    def __init__(self, unit_of_work: UnitOfWork[XeroWork], clock: Clock, tokens: Tokens, identity: XeroIdentity,
                 api: XeroApi) -> None:
        self._unit_of_work = unit_of_work
        self._clock = clock
        self._tokens = tokens
        self._identity = identity
        self._api = api

    async def run_due(self) -> int:
        async with self._unit_of_work() as tx:
            due = await tx.jobs.due(self._clock())
        return sum([await self.run(job) for job in due])

    async def run(self, job_id: int) -> bool:
        """One attempt; True when the job is done. Never raises for Xero being away: it retries later."""
        follow_up = None
        async with self._unit_of_work() as tx:
            job = await tx.jobs.take(job_id, self._clock())
            if job is None:
                return False
            try:
                outcome, error, retry_at = await self._perform(tx, job), None, None
            except XeroUnavailable as failure:
                outcome, error = "xero_unavailable", str(failure)[:200]
                retry_at = self._clock() + _backoff(job.attempts, failure.retry_after)
            now = self._clock()
            await tx.jobs.finish(job_id, now, error, retry_at)
            await tx.audit.record(now, job.actor, f"xero.{job.kind.value}", job.merchant_id, job.tenant_id,
                                  attempt=job.attempts + 1, outcome=outcome, will_retry=retry_at is not None)
            if error is None and job.kind is JobKind.DELETE_CONNECTION \
                    and not await tx.connections.active_of_grant(job.grant_id):
                follow_up = await tx.jobs.add(JobKind.REVOKE_GRANT, job.grant_id, job.merchant_id, job.actor, now)
        if follow_up is not None:
            await self.run(follow_up)
        return error is None

    async def _perform(self, tx: XeroWork, job: XeroJob) -> str:
        if job.kind is JobKind.DELETE_CONNECTION:
            return await self._delete_connection(job)
        grant = await tx.grants.get(job.grant_id, lock=True)
        if grant is None or grant.status is not GrantStatus.ACTIVE or grant.tokens is None:
            return "nothing_to_revoke"
        if await tx.connections.active_of_grant(grant.grant_id):
            return "still_in_use"
        try:
            await self._identity.revoke(grant.tokens.refresh_token)
        except OAuthRejected as rejected:
            log.warning("revocation of grant %s refused: %s", grant.grant_id, rejected.error)
        await tx.grants.save(replace(grant, status=GrantStatus.REVOKED, tokens=None), self._clock(), "revoked")
        return "revoked"

    async def _delete_connection(self, job: XeroJob) -> str:
        assert job.connection_id is not None, "a delete job names its connection"
        connection_id = job.connection_id
        try:
            status = await self._tokens.with_token(
                job.grant_id, lambda token: self._api.delete_connection(token, connection_id))
        except GrantBroken:
            return "grant_unusable"      # nothing can act at Xero with it any more
        return _DELETE_OUTCOMES.get(status, str(status))


def _backoff(attempts: int, retry_after: int | None) -> timedelta:
    return timedelta(seconds=max(retry_after or 0, min(3600, 5 * 2 ** attempts)))
