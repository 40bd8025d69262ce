"""The gateway's part of erasing a merchant (docs/erasure.md), on MerchantErased: disconnect at Xero first, while
the tokens still exist, then delete or anonymise every row about the merchant in one transaction.

At Xero: DELETE each active connection of the merchant (a grant another merchant also uses keeps its other
connections), then revoke each grant only this merchant used (which also drops the connections of consents never
confirmed). Xero away: the handler raises, the delivery kit retries the event with backoff and nothing local is
erased yet. A grant that cannot be used any more (broken, revoked) or a connection already gone has nothing left to
undo at Xero. A redelivery after the rows are gone finds the erasure recorded and calls Xero no more.
"""

import logging

from shared.contracts import CloudEvent

from ..ports import MerchantRows, OAuthRejected, XeroApi, XeroIdentity
from .tokens import GrantBroken, Tokens

log = logging.getLogger(__name__)


class MerchantErasure:
    def __init__(self, rows: MerchantRows, tokens: Tokens, identity: XeroIdentity, api: XeroApi) -> None:
        self._rows = rows
        self._tokens = tokens
        self._identity = identity
        self._api = api

    async def erased(self, event: CloudEvent) -> object | None:
        merchant_id = event.data.merchant_id
        if await self._rows.erased(merchant_id):
            return None
        footprint = await self._rows.xero_footprint(merchant_id)
        for grant_id, connection_id in footprint.connections:
            try:
                status = await self._tokens.with_token(
                    grant_id, lambda token, c=connection_id: self._api.delete_connection(token, c))
            except GrantBroken:
                status = "grant_unusable"
            log.info("erasing merchant %s: Xero connection %s: %s", merchant_id, connection_id, status)
        for grant_id in footprint.own_grants:
            try:
                await self._identity.revoke((await self._tokens.token_set(grant_id)).refresh_token)
            except GrantBroken:
                continue
            except OAuthRejected as rejected:
                log.warning("erasing merchant %s: revocation of grant %s refused: %s", merchant_id, grant_id,
                            rejected.error)
        return await self._rows.erase(event)
