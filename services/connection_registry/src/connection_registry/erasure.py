"""Erasing a merchant (docs/erasure.md): the registry is the source of truth, so the erasure starts here.

One transaction, under the merchant's lock, deletes the registry's rows about the merchant, keeps a
`merchant_erasures` row with the counts an audit needs and stages MerchantErased, which every other service
consumes to erase its own rows. Only then is the merchant's key forgotten (its events' personal fields become
unreadable): after the commit, so a failed transaction never leaves events unreadable while their rows stay. A
repeat (a retry after `forget` failed, a double click) finds the record, publishes nothing and forgets again.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from uuid import UUID, uuid4

from shared.contracts import CloudEvent, MerchantErased
from shared.ports import Clock, utc_now

from .domain import SOURCE
from .handlers import CONSUMER
from .ports import ErasureRecord, PersonalDataKeys, UnitOfWork

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Erased:
    record: ErasureRecord
    already_erased: bool       # True: an earlier request erased it; nothing new was published


class Erasure:
    def __init__(self, unit_of_work: UnitOfWork, keys: PersonalDataKeys, *, clock: Clock = utc_now,
                 new_id: Callable[[], UUID] = uuid4) -> None:
        self._unit_of_work = unit_of_work
        self._keys = keys
        self._clock = clock
        self._new_id = new_id

    async def erase(self, merchant_id: str, requested_by: str, reference: str) -> Erased:
        async with self._unit_of_work() as tx:
            await tx.lock(merchant_id)
            if (earlier := await tx.erasure(merchant_id)) is None:
                now = self._clock()
                event = CloudEvent(data=MerchantErased(merchant_id=merchant_id, requested_by=requested_by,
                                                       reference=reference, requested_at=now),
                                   source=SOURCE, id=self._new_id(), time=now)
                await tx.claim(CONSUMER, event.id)   # as for commands: the inbox a rebuild would leave
                record = await tx.erase(event)
        await self._keys.forget(merchant_id)
        if earlier is not None:
            return Erased(earlier, already_erased=True)
        log.info("erased merchant %s (%s, requested by %s)", merchant_id, reference, requested_by)
        return Erased(record, already_erased=False)
