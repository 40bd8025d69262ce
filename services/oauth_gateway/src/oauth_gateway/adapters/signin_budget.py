"""Failed sign-ins per account and per client address, in `shared.ratelimit`'s PostgreSQL buckets, so every
gateway instance spends one budget (the same limiter as Xero's budget here and key_validator's key budget).

The account's bucket is named by the account's keyed hash only. A stranger's attempt claims it with the lower
ceiling, a browser that signed in to the account before with the higher one (`domain.signin`); each attempt
claims the address's bucket too, all or nothing, in one round trip.
"""

from collections.abc import Callable

import asyncpg

from shared.client_address import address_group
from shared.ratelimit import Claim, Reservation, forget, release, take

from ..domain.signin import SignInLimits
from ..ports import SignInTicket


def account_bucket(account: str) -> str:
    return f"sign-in-account:{account}"


class PgSignInBudget:
    def __init__(self, pool: Callable[[], asyncpg.Pool], limits: SignInLimits) -> None:
        self._pool = pool
        self._limits = limits

    async def take(self, account: str, address: str, *, known_browser: bool) -> SignInTicket:
        limit = self._limits.known_browser if known_browser else self._limits.stranger
        reservation = await take(self._pool(), Claim(account_bucket(account), limit),
                                 Claim(f"sign-in-client:{address_group(address)}", self._limits.per_address))
        if reservation.allowed:
            return SignInTicket(taken=reservation)
        refused_by = "account" if reservation.refused_by == account_bucket(account) else "address"
        return SignInTicket(refused_by=refused_by, retry_after=reservation.retry_after_seconds)

    async def succeeded(self, account: str, ticket: SignInTicket) -> None:
        async with self._pool().acquire() as conn, conn.transaction():
            await forget(conn, account_bucket(account))
            await release(conn, _reservation(ticket))

    async def not_counted(self, ticket: SignInTicket) -> None:
        await release(self._pool(), _reservation(ticket))


def _reservation(ticket: SignInTicket) -> Reservation:
    assert isinstance(ticket.taken, Reservation), "only an allowed attempt is settled"
    return ticket.taken
