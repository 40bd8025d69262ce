"""Email over SMTP (aiosmtplib): one message per attempt, same Message-ID every time. `SmtpSender` is the
helpdesk's mailbox; `deliver` is shared with the merchant's emails."""

from email.message import EmailMessage
from uuid import UUID

import aiosmtplib

from shared.ports import Clock, utc_now

from .. import rendering
from ..domain.delivery import AttemptResult, Outcome
from ..domain.notifications import Notification
from ..settings import EmailSettings, SmtpRelay


class SmtpSender:
    def __init__(self, settings: EmailSettings, wall: Clock = utc_now) -> None:
        self._settings = settings
        self._wall = wall  # the Date header is real time, whatever clock schedules the attempts

    async def send(self, delivery_id: UUID, notification: Notification) -> AttemptResult:
        s = self._settings
        return await deliver(rendering.email(notification, delivery_id, s.from_address, s.to, self._wall()), s)


async def deliver(message: EmailMessage, s: SmtpRelay) -> AttemptResult:
    """Hand the message to the relay; what happened, never raised. 4xx is worth retrying, 5xx is not."""
    try:
        refused, reply = await aiosmtplib.send(
            message, hostname=s.host, port=s.port, start_tls=s.starttls, use_tls=s.use_tls,
            username=s.username, password=s.password.get_secret_value() if s.password else None,
            timeout=s.timeout_seconds)
    except aiosmtplib.SMTPRecipientsRefused as error:
        codes = [r.code for r in error.recipients]
        outcome = Outcome.TRANSIENT if all(400 <= c < 500 for c in codes) else Outcome.PERMANENT
        return AttemptResult(outcome, f"every recipient refused: {codes}")
    except aiosmtplib.SMTPResponseException as error:
        outcome = Outcome.PERMANENT if error.code >= 500 else Outcome.TRANSIENT
        return AttemptResult(outcome, f"SMTP {error.code}: {error.message[:200]}")
    except aiosmtplib.SMTPNotSupported as error:
        return AttemptResult(Outcome.PERMANENT, f"SMTP server lacks a required feature: {error}"[:300])
    except (aiosmtplib.SMTPException, OSError) as error:
        return AttemptResult(Outcome.TRANSIENT, f"SMTP server unreachable: {type(error).__name__}")
    partly = f"; refused: {sorted(refused)}" if refused else ""
    return AttemptResult(Outcome.DELIVERED, f"SMTP {reply[:200]}{partly}")
