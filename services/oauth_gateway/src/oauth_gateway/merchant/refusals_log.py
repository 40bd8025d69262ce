"""The audit record of a refused reach for something that is not the session's (§B36, §B23)."""

import logging

from ..domain.model import WebSession, printable
from ..domain.refusals import Refusal
from ..ports import Audited, Clock, UnitOfWork

log = logging.getLogger(__name__)


class RefusalLog:
    def __init__(self, unit_of_work: UnitOfWork[Audited], clock: Clock) -> None:
        self._unit_of_work = unit_of_work
        self._clock = clock

    async def refused(self, session: WebSession, target: str, reference: str, refusal: Refusal, *,
                      reason: str | None = None, **detail: object) -> Refusal:
        """Record who, what (`target` and the `reference` they sent) and why, in a transaction of its own, and
        hand back `refusal`. `reason` defaults to the refusal's code; it differs when the page deliberately
        says less than the audit log (someone else's flow reads as expired)."""
        reference, reason = printable(reference), reason or refusal.shown_code
        async with self._unit_of_work() as tx:
            await tx.audit.record(self._clock(), session.user_id, "access.refused", session.merchant_id,
                                  target=target, reference=reference, reason=reason, **detail)
        log.warning("refused merchant %s user %s access to %s %r: %s", session.merchant_id, session.user_id,
                    target, reference, reason)
        return refusal
