"""The Xero work owed after a local change: DELETE a connection, then revoke the grant once nothing uses it. The
local effect (connection ended, OrgDisconnected published) is already committed; these are jobs, tried at once and
retried with backoff until they succeed.

A lease-based queue, so that no Xero call ever runs inside a transaction or under a row lock: a job is claimed in
one short transaction (SKIP LOCKED, attempts + 1, leased), Xero is called with no transaction open, and the outcome
is recorded in another short transaction only while the lease is still the job's. An instance that dies mid-job
leaves its lease to expire and the job is tried again; each attempt is cut off well inside its lease, so once a
lease has ended nothing of that attempt can still reach Xero.

A job never undoes a later confirmation. Xero keeps a connection's id when the same organisation is authorised
again, and a revocation drops every connection of that Xero user; so when claimed, a DELETE of a connection that an
active connection or a consent awaiting its selection uses, and a revocation of a grant either uses, ends as
"superseded". A confirmation supersedes those not in flight itself and refuses while one is (`Select`).
"""

import asyncio
import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from ..domain.model import DEFAULT_CONSENT_TTL, GrantStatus, JobKind, XeroJob
from ..ports import Clock, OAuthRejected, UnitOfWork, XeroApi, XeroIdentity, XeroUnavailable, XeroWork
from .tokens import GrantBroken, Tokens

log = logging.getLogger(__name__)
_DELETE_OUTCOMES = {204: "deleted", 404: "already_gone", 403: "not_visible"}


@dataclass(frozen=True, slots=True)
class _Claimed:
    job: XeroJob
    refresh_token: str | None = None        # a revocation: the grant's token, read when the job was claimed


class XeroJobs:
    def __init__(self, unit_of_work: UnitOfWork[XeroWork], clock: Clock, tokens: Tokens, identity: XeroIdentity,
                 api: XeroApi, *, consent_ttl: timedelta = DEFAULT_CONSENT_TTL,
                 lease: timedelta = timedelta(seconds=120), batch_size: int = 10, concurrency: int = 4) -> None:
        """`consent_ttl`: how long a consent awaiting its selection keeps its connections and grant (the same
        value as the abandoned-consent sweep's). Attempts are cut off at half the `lease`."""
        self._unit_of_work = unit_of_work
        self._clock = clock
        self._tokens = tokens
        self._identity = identity
        self._api = api
        self._consent_ttl = consent_ttl
        self._lease = lease
        self._batch_size = batch_size
        self._gate = asyncio.Semaphore(concurrency)

    async def run_due(self) -> int:
        """Every job due now, in small batches, a few at a time; returns how many ended (done or superseded)."""
        ended = 0
        while True:
            taken, ready, settled = await self._claim()
            ended += settled + sum(await asyncio.gather(*(self._bounded(c) for c in ready)))
            if taken < self._batch_size:
                return ended

    async def run(self, job_id: int) -> bool:
        """One attempt at `job_id` now if it is due and nobody holds it (right after a disconnect or a refused
        selection, for promptness); True when the job has ended. Never raises: what fails is retried later."""
        try:
            _, ready, settled = await self._claim(job_id)
            return bool(settled) or (bool(ready) and await self._attempt(ready[0]))
        except Exception:  # noqa: BLE001 - the job is queued and committed: the queue retries it
            log.exception("xero job %s could not run now; it is retried later", job_id)
            return False

    async def _bounded(self, claimed: _Claimed) -> bool:
        async with self._gate:
            try:
                return await self._attempt(claimed)
            except Exception:  # noqa: BLE001 - one job must not stop the batch; its lease expires and it is retried
                log.exception("xero job %s failed; it is retried once its lease ends", claimed.job.job_id)
                return False

    async def _claim(self, job_id: int | None = None) -> tuple[int, list[_Claimed], int]:
        """Lease due jobs in one short transaction and end there those that are moot; returns how many were
        taken, those to attempt, and how many ended."""
        now = self._clock()
        ready: list[_Claimed] = []
        async with self._unit_of_work() as tx:
            jobs = await tx.jobs.claim(now, now + self._lease, self._batch_size, job_id)
            for job in jobs:
                prepared = await self._prepare(tx, job, now)
                if isinstance(prepared, _Claimed):
                    ready.append(prepared)
                elif await tx.jobs.finish(job, now, prepared):
                    await _audit(tx, job, now, prepared, will_retry=False)
        return len(jobs), ready, len(jobs) - len(ready)

    async def _prepare(self, tx: XeroWork, job: XeroJob, now: datetime) -> _Claimed | str:
        """The job to attempt, or the outcome that ends it here: something now uses what it would remove."""
        live_since = now - self._consent_ttl
        if job.kind is JobKind.DELETE_CONNECTION:
            assert job.connection_id is not None, "a delete job names its connection"
            wanted = await tx.connections.wanted(job.connection_id, live_since, job.flow_id)
            return "superseded" if wanted else _Claimed(job)
        if await tx.connections.grant_wanted(job.grant_id, live_since):
            return "superseded"
        grant = await tx.grants.get(job.grant_id)
        if grant is None or grant.status is not GrantStatus.ACTIVE or grant.tokens is None:
            return "nothing_to_revoke"
        return _Claimed(job, grant.tokens.refresh_token)

    async def _attempt(self, claimed: _Claimed) -> bool:
        """Xero, with no transaction open; then the outcome. True when the job has ended."""
        job, retry_at, error = claimed.job, None, None
        try:
            async with asyncio.timeout(self._lease.total_seconds() / 2):
                outcome = await self._perform(claimed)
        except (XeroUnavailable, TimeoutError) as failure:
            outcome, error = "xero_unavailable", (str(failure) or "no answer in time")[:200]
            retry_at = self._clock() + _backoff(job.attempts - 1, getattr(failure, "retry_after", None))
        recorded, follow_up = await self._record(job, outcome, error, retry_at)
        if follow_up is not None:
            await self.run(follow_up)
        return recorded and error is None

    async def _perform(self, claimed: _Claimed) -> str:
        job = claimed.job
        if job.kind is JobKind.DELETE_CONNECTION:
            return await self._delete_connection(job)
        assert claimed.refresh_token is not None, "a revocation is claimed with its token"
        try:
            await self._identity.revoke(claimed.refresh_token)
        except OAuthRejected as rejected:
            log.warning("revocation of grant %s refused: %s", job.grant_id, rejected.error)
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

    async def _record(self, job: XeroJob, outcome: str, error: str | None,
                      retry_at: datetime | None) -> tuple[bool, int | None]:
        """In one short transaction, only while the lease is ours; returns whether it was recorded, and the
        revocation now owed, if any."""
        now = self._clock()
        async with self._unit_of_work() as tx:
            if not await tx.jobs.finish(job, now, outcome, retry_at, error):
                log.warning("xero job %s lost its lease before attempt %d (%s) was recorded", job.job_id,
                            job.attempts, outcome)
                return False, None
            await _audit(tx, job, now, outcome, will_retry=retry_at is not None)
            if retry_at is not None:
                return True, None
            return True, await self._after(tx, job, outcome, now)

    async def _after(self, tx: XeroWork, job: XeroJob, outcome: str, now: datetime) -> int | None:
        """A revoked grant forgets its tokens, unless a consent took it up meanwhile (that consent's confirmation
        refuses: `JobRows.removing`); a deleted connection may leave its grant unused: revoke it then."""
        live_since = now - self._consent_ttl
        if job.kind is JobKind.REVOKE_GRANT:
            grant = await tx.grants.get(job.grant_id, lock=True)
            if grant is None or grant.status is not GrantStatus.ACTIVE:
                return None
            if await tx.connections.grant_wanted(job.grant_id, live_since):
                log.warning("grant %s was revoked at Xero while a consent took it up", job.grant_id)
                return None
            await tx.grants.save(replace(grant, status=GrantStatus.REVOKED, tokens=None), now, "revoked")
            return None
        if outcome == "grant_unusable" or await tx.connections.grant_wanted(job.grant_id, live_since):
            return None
        return await tx.jobs.add(JobKind.REVOKE_GRANT, job.grant_id, job.merchant_id, job.actor, now)


async def _audit(tx: XeroWork, job: XeroJob, now: datetime, outcome: str, *, will_retry: bool) -> None:
    await tx.audit.record(now, job.actor, f"xero.{job.kind.value}", job.merchant_id, job.tenant_id,
                          attempt=job.attempts, outcome=outcome, will_retry=will_retry)


def _backoff(attempts: int, retry_after: int | None) -> timedelta:
    return timedelta(seconds=max(retry_after or 0, min(3600, 5 * 2 ** attempts)))
