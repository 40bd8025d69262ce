"""The emailed reconnect link: signed for one merchant's store and one incident, expiring, and useful only
once signed in as that merchant. It opens a page for that store with its reason and one Reconnect button."""

from ..domain import refusals
from ..domain.health import ReconnectLinks, StoreHealth
from ..domain.model import WebSession
from ..domain.refusals import Refusal
from ..ports import Clock
from .refusals_log import RefusalLog
from .summary import Summaries


class Reconnect:
    def __init__(self, summaries: Summaries, links: ReconnectLinks, clock: Clock, refusal_log: RefusalLog) -> None:
        self._summaries = summaries
        self._links = links
        self._clock = clock
        self._refusal_log = refusal_log

    async def page(self, session: WebSession, store_id: str, link: str) -> StoreHealth | Refusal:
        if not self._links.verify(session.merchant_id, store_id, link, self._clock()):
            return await self._refusal_log.refused(session, "reconnect_link", store_id,
                                                   refusals.reconnect_link_invalid())
        found = next((h for h in await self._summaries.health(session.merchant_id) if h.store_id == store_id), None)
        return found if found is not None else refusals.reconnect_link_invalid()
