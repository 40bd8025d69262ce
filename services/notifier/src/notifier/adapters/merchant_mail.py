"""The merchant's email channel: asks Cloud POS for the merchant's contact email, then sends over SMTP.

The address is looked up at send time and never stored: Cloud POS down means "try again later" (the delivery's
retry schedule), no address means the helpdesk is told instead (`domain.health.follow_ups`). Two emails go this
way: a broken connection's (and its reminders), and the reminder to finish the Xero setup.
"""

from collections.abc import Awaitable, Callable
from email.message import EmailMessage
from uuid import UUID

from shared.ports import Clock, utc_now

from .. import merchant_rendering, setup_rendering
from ..domain.delivery import AttemptResult, Outcome
from ..domain.incidents import MerchantNotice
from ..domain.setup_reminders import SetupReminder
from ..domain.stop_links import stop_token
from ..ports import CloudPosUnavailable, MerchantContacts
from ..settings import MerchantEmailSettings, SmtpRelay
from .smtp import deliver

Deliver = Callable[[EmailMessage, SmtpRelay], Awaitable[AttemptResult]]


class MerchantMailer:
    def __init__(self, contacts: MerchantContacts, settings: MerchantEmailSettings, public_base_url: str,
                 link_secret: bytes, wall: Clock = utc_now, deliver_mail: Deliver = deliver,
                 setup_page_url: str | None = None) -> None:
        """`deliver_mail` hands a message to the relay (tests keep it instead); `setup_page_url`: where the
        merchant clicks "I have finished" (without it the email says how to get there)."""
        self._contacts = contacts
        self._deliver = deliver_mail
        self._settings = settings
        self._stop_base = f"{public_base_url.rstrip('/')}/reminders/stop?token="
        self._secret = link_secret
        self._setup_page_url = setup_page_url
        self._wall = wall  # the Date header is real time, whatever clock schedules the attempts

    async def send(self, delivery_id: UUID, notification: MerchantNotice | SetupReminder) -> AttemptResult:
        try:
            address = await self._contacts.contact_email(notification.merchant_id)
        except CloudPosUnavailable as error:
            return AttemptResult(Outcome.TRANSIENT, f"Cloud POS unavailable, contact email unknown: {error}"[:300])
        if address is None:
            return AttemptResult(Outcome.PERMANENT, "Cloud POS holds no contact email for the merchant",
                                 no_recipient=True)
        if isinstance(notification, SetupReminder):
            return await self._deliver(self.setup_message(delivery_id, notification, address), self._settings)
        return await self._deliver(self.message(delivery_id, notification, address), self._settings)

    def message(self, delivery_id: UUID, notice: MerchantNotice, address: str) -> EmailMessage:
        """The email as it goes out (the stop link signed from the notice: the same on every retry)."""
        token = stop_token(self._secret, notice.merchant_id, notice.incident_id, notice.stop_until)
        s = self._settings
        return merchant_rendering.email(notice, delivery_id, s.from_address, address, self._stop_base + token,
                                        self._wall(), s.reply_to)

    def setup_message(self, delivery_id: UUID, reminder: SetupReminder, address: str) -> EmailMessage:
        s = self._settings
        return setup_rendering.email(reminder, delivery_id, s.from_address, address, self._setup_page_url,
                                     self._wall(), s.reply_to)
