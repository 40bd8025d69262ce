"""The validation use case: throttle, ask Cloud POS, decide, then record the attempt (and on success
stage KeyValidated in the outbox) in one transaction."""

import logging
from dataclasses import dataclass
from uuid import UUID, uuid4

from shared.contracts import CloudEvent
from shared.ratelimit import Claim, Limit

from . import domain
from .domain import Attempt, Code, Refusal, Validated, Validation, refusals
from .metrics import VALIDATIONS
from .ports import CloudPos, CloudPosUnavailable, Clock, Fingerprint, UnitOfWork

SOURCE = "/cloudpos-xero/key_validator"
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AttemptLimits:
    """Failed attempts allowed per signed-in merchant and per client address."""

    per_merchant: Limit
    per_client_address: Limit


class KeyValidatorHandlers:
    def __init__(self, unit_of_work: UnitOfWork, cloudpos: CloudPos, clock: Clock, fingerprint: Fingerprint,
                 limits: AttemptLimits) -> None:
        self._unit_of_work = unit_of_work
        self._cloudpos = cloudpos
        self._clock = clock
        self._fingerprint = fingerprint
        self._limits = limits

    async def validate(self, command: Validation) -> Validated | Refusal:
        """Every attempt first takes a hit from the merchant's and the address's budgets (so concurrent
        guesses cannot overshoot); success and Cloud POS outages give it back, refusals keep it."""
        now = self._clock()
        attempt = Attempt(uuid4(), command.merchant_id, command.user_id, command.client_address,
                          self._fingerprint(command.api_key), now)
        async with self._unit_of_work() as tx:
            reservation = await tx.reserve(now, *self._claims(command))
            if not reservation.allowed:
                throttled = refusals.too_many_attempts(reservation.retry_after_seconds)
                await tx.record(attempt.ended(throttled.code))
        if not reservation.allowed:
            _log(attempt, throttled.code)
            return throttled

        outcome, key_id = await self._decide(command, attempt.validation_id)
        code = Code.VALIDATED if isinstance(outcome, Validated) else outcome.code
        async with self._unit_of_work() as tx:
            await tx.record(attempt.ended(code, key_id))
            if not domain.counts_as_failure(code):
                await tx.release(reservation)
            if isinstance(outcome, Validated):
                await tx.publish(CloudEvent(
                    data=outcome.event(command.user_id), source=SOURCE, id=attempt.validation_id, time=now,
                    subject=outcome.key_id, correlation_id=command.correlation_id or attempt.validation_id))
        _log(attempt, code, key_id)
        return outcome

    async def _decide(self, command: Validation, validation_id: UUID) -> tuple[Validated | Refusal, str | None]:
        """The outcome and, when Cloud POS knows the key, its id (for the audit trail)."""
        key_id = None
        try:
            key = await self._cloudpos.introspect(command.api_key)
            key_id = key.key_id
            if refusal := domain.judge_key(key, command.merchant_id):
                return refusal, key_id
            merchant = await self._cloudpos.merchant(command.merchant_id)
            if refusal := domain.judge_licence(merchant):
                return refusal, key_id
            stores = await self._cloudpos.stores(command.merchant_id)
        except CloudPosUnavailable as error:
            log.warning("validation %s: Cloud POS unavailable: %s", validation_id, error)
            return refusals.cloudpos_unavailable(), key_id
        assert key.key_id is not None and key.label is not None  # judge_key accepted a known key
        return Validated(validation_id, command.merchant_id, merchant.name, key.key_id, key.label, stores), key_id

    def _claims(self, command: Validation) -> tuple[Claim, ...]:
        return (Claim(domain.merchant_bucket(command.merchant_id), self._limits.per_merchant),
                Claim(domain.client_bucket(command.client_address), self._limits.per_client_address))


def _log(attempt: Attempt, code: Code, key_id: str | None = None) -> None:
    """One line per attempt; the key appears only as the first characters of its fingerprint."""
    VALIDATIONS.labels(code.value).inc()
    log.info("validation %s merchant=%s client=%s key_fp=%s key_id=%s outcome=%s", attempt.validation_id,
             attempt.merchant_id, attempt.client_address, attempt.key_fingerprint[:12], key_id, code.value)
