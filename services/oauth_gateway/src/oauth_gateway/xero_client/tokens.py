"""Access tokens on demand, with ONE refresh per grant across all instances.

In-process, a lock per grant coalesces callers. Across instances, a refresh lease on the grant's row (taken in a
short transaction, for the version read before) elects one refresher; the others wait for the version to move and
use its tokens. No row stays locked and no transaction stays open across the token call. A refresh whose answer
is lost is retried at once with the same (old) refresh token, which Xero honours for 30 minutes, and if that
fails too, upkeep retries within seconds (`refresh_failed`), never an hour later. `invalid_grant` breaks the
grant: every connection on it needs reconnecting (`Breaks`: one ConnectionBroken per store), in one transaction.
"""

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TypeVar

from shared.contracts import BreakReason

from ..domain import events
from ..domain.model import REFRESH_SKEW, Grant, GrantStatus, TokenSet
from ..ports import Clock, OAuthRejected, TokenRejected, TokenResponse, UnitOfWork, XeroIdentity, XeroUnavailable, \
    XeroWork
from .breaks import Breaks

log = logging.getLogger(__name__)
T = TypeVar("T")
_LOST_RESPONSE_RETRIES = 3
_REFRESH_LEASE = timedelta(seconds=45)       # longer than three token calls with their timeouts
_LEASE_POLL = 0.1
_RETRY_LOST_ANSWER = timedelta(seconds=5)    # upkeep retries by then, well inside Xero's 30-minute grace


class GrantBroken(Exception):
    """The grant can no longer be refreshed; the merchant has to connect again."""


class Tokens:
    def __init__(self, unit_of_work: UnitOfWork[XeroWork], clock: Clock, identity: XeroIdentity,
                 breaks: Breaks) -> None:
        self._unit_of_work = unit_of_work
        self._breaks = breaks
        self._clock = clock
        self._identity = identity
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        # The last access token seen per grant: an access token stays valid until it expires even after another
        # instance refreshed the grant, and one Xero rejects (revoked) forces a refresh, which reads the row.
        self._fresh: dict[str, TokenSet] = {}

    async def access_token(self, grant_id: str, *, force: bool = False) -> str:
        return (await self.token_set(grant_id, force=force)).access_token

    async def token_set(self, grant_id: str, *, force: bool = False, valid_for: timedelta = REFRESH_SKEW) -> TokenSet:
        """The grant's tokens, refreshed first (once, across instances) unless the access token lives at least
        `valid_for` longer."""
        remembered = self._fresh.get(grant_id)
        if not force and remembered is not None and remembered.expires_at - self._clock() > valid_for:
            return remembered
        async with self._locks[grant_id]:
            async with self._unit_of_work() as tx:
                seen = await tx.grants.get(grant_id)
            if seen is None or seen.status is not GrantStatus.ACTIVE or seen.tokens is None:
                self._fresh.pop(grant_id, None)
                raise GrantBroken(grant_id)
            tokens = seen.tokens if not force and not seen.needs_refresh(self._clock(), valid_for) else \
                await self._refresh(seen)
            self._fresh[grant_id] = tokens
            return tokens

    async def with_token(self, grant_id: str, call: Callable[[str], Awaitable[T]]) -> T:
        """Run an API call; a 401 (token expired early or revoked) forces one refresh and one retry."""
        try:
            return await call(await self.access_token(grant_id))
        except TokenRejected:
            return await call(await self.access_token(grant_id, force=True))

    async def _refresh(self, seen: Grant) -> TokenSet:
        """Refresh under a lease taken in a short transaction: the token call runs with no transaction open and
        no row locked; an instance that finds the lease taken waits for the other's answer (the version moves)."""
        current = await self._lease(seen)
        if current is not None:
            return current
        assert seen.tokens is not None
        try:
            response = await self._call_token_endpoint(seen.tokens.refresh_token)
        except OAuthRejected as error:
            if error.error == "invalid_grant":
                return await self._rejected(seen)
            await self._failed(seen.grant_id)
            raise XeroUnavailable(f"refresh refused: {error.error}") from None
        except XeroUnavailable:
            await self._failed(seen.grant_id)       # the answer may be lost after Xero rotated: retry in seconds
            raise
        now = self._clock()
        tokens = token_set(response, now)
        async with self._unit_of_work() as tx:
            current_row = await tx.grants.get(seen.grant_id, lock=True)   # no call while it is locked
            if current_row is None or current_row.status is not GrantStatus.ACTIVE:
                raise GrantBroken(seen.grant_id)     # revoked or broken meanwhile: never bring it back
            await tx.grants.save(replace(current_row, tokens=tokens, refreshed_at=now), now)
        log.debug("refreshed Xero grant %s", seen.grant_id)
        return tokens

    async def _lease(self, seen: Grant) -> TokenSet | None:
        """Take the refresh lease (None), or the tokens another instance got meanwhile."""
        deadline = time.monotonic() + _REFRESH_LEASE.total_seconds() + 5
        while True:
            now = self._clock()
            async with self._unit_of_work() as tx:
                if await tx.grants.lease_refresh(seen.grant_id, seen.version, now, now + _REFRESH_LEASE):
                    return None
                current = await tx.grants.get(seen.grant_id)
            if current is None or current.status is not GrantStatus.ACTIVE or current.tokens is None:
                raise GrantBroken(seen.grant_id)
            if current.version != seen.version:                 # refreshed elsewhere meanwhile
                return current.tokens
            if time.monotonic() > deadline:
                raise XeroUnavailable("another instance's token refresh has not finished")
            await asyncio.sleep(_LEASE_POLL)

    async def _failed(self, grant_id: str) -> None:
        async with self._unit_of_work() as tx:
            await tx.grants.refresh_failed(grant_id, self._clock() + _RETRY_LOST_ANSWER)

    async def _rejected(self, seen: Grant) -> TokenSet:
        """invalid_grant for the token we hold: the grant is dead, unless it moved on meanwhile."""
        async with self._unit_of_work() as tx:
            current = await tx.grants.get(seen.grant_id, lock=True)
            if current is not None and current.status is GrantStatus.ACTIVE and current.tokens is not None \
                    and current.version != seen.version:
                return current.tokens
            if current is not None and current.status is GrantStatus.ACTIVE:
                await self._break(tx, current, "invalid_grant")
        self._fresh.pop(seen.grant_id, None)   # committed: the grant is marked broken and the events are in the outbox
        raise GrantBroken(seen.grant_id)

    async def _call_token_endpoint(self, refresh_token: str) -> TokenResponse:
        """A lost response (timeout after Xero rotated) is retried with the same token: the grace period."""
        for attempt in range(1, _LOST_RESPONSE_RETRIES + 1):
            try:
                return await self._identity.refresh(refresh_token)
            except XeroUnavailable:
                if attempt == _LOST_RESPONSE_RETRIES:
                    raise
                log.warning("refresh attempt %d got no usable answer; retrying with the same token", attempt)
                await asyncio.sleep(0.2 * attempt)
        raise AssertionError("unreachable")

    async def _break(self, tx: XeroWork, grant: Grant, reason: str) -> None:
        """The grant is dead: every connection on it needs its merchant to reconnect (ConnectionBroken)."""
        now = self._clock()
        await tx.grants.save(replace(grant, status=GrantStatus.BROKEN, tokens=None), now, reason)
        for connection in await tx.connections.active_of_grant(grant.grant_id):
            await self._breaks.mark(tx, connection, BreakReason.AUTHORISATION_EXPIRED, now, events.SYSTEM_ACTOR)
        log.warning("Xero grant %s is broken (%s); its connections need reconnecting", grant.grant_id, reason)


def token_set(response: TokenResponse, now: datetime) -> TokenSet:
    return TokenSet(response.access_token, response.refresh_token,
                    now + timedelta(seconds=response.expires_in), response.scopes)
