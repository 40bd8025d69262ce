"""What every use case shares: its dependencies, the event envelope, the system actor's name, and the audit
record of a refused reach for something that is not the session's."""

import logging
from dataclasses import dataclass
from datetime import timedelta
from uuid import UUID

from shared.contracts import Event
from shared.delivery import CloudEvent

from ..domain.model import WebSession
from ..domain.problems import Problem
from ..ports import Clock, CloudPos, KeyValidator, Registry, Sealer, UnitOfWork, XeroApi, XeroIdentity

log = logging.getLogger(__name__)

SOURCE = "/cloudpos-xero/oauth_gateway"
SYSTEM_ACTOR = "oauth_gateway"      # who acts when nobody clicked (keep-alive, removal detection)
XERO_ACTOR = "xero"                 # the change happened inside Xero


@dataclass(frozen=True, slots=True)
class Deps:
    unit_of_work: UnitOfWork
    clock: Clock
    identity: XeroIdentity
    api: XeroApi
    cloudpos: CloudPos
    key_validator: KeyValidator
    registry: Registry
    sealer: Sealer
    flow_ttl: timedelta = timedelta(minutes=10)
    session_idle: timedelta = timedelta(minutes=30)
    session_absolute: timedelta = timedelta(hours=12)


def envelope(data: Event, subject: str, correlation_id: UUID | None = None) -> CloudEvent:
    return CloudEvent(data=data, source=SOURCE, subject=subject, correlation_id=correlation_id)


def clip(name: str | None, fallback: str) -> str:
    """Event names are 1..200 characters; Xero's `tenantName` is optional."""
    text = (name or "").strip() or fallback
    return text[:200]


async def refused(deps: Deps, session: WebSession, target: str, reference: str, problem: Problem, *,
                  reason: str | None = None, **detail: object) -> Problem:
    """A session reached for something that is not its merchant's, or not in its consent (§B36, §B23): record
    who, what (`target` and the `reference` they sent) and why in the audit log, in a transaction of its own,
    and hand back `problem` for the caller to raise. `reason` defaults to the problem's code; it differs when
    the page deliberately says less than the audit log (an existing flow of someone else reads as expired)."""
    reference, reason = printable(reference), reason or problem.code
    async with deps.unit_of_work() as tx:
        await tx.audit(deps.clock(), session.user_id, "access.refused", session.merchant_id, target=target,
                       reference=reference, reason=reason, **detail)
    log.warning("refused merchant %s user %s access to %s %r: %s", session.merchant_id, session.user_id, target,
                reference, reason)
    return problem


def printable(value: str, limit: int = 200) -> str:
    """What a client sent, made safe to keep: printable characters only (no NUL, CR, LF), at most `limit`."""
    return "".join(c for c in value if c.isprintable())[:limit]
