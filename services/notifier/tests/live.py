"""What the notifier's tests on real infrastructure share: the helpdesk sandbox's SMTP sink and webhook receiver
(switchable off and on), serving an app on a real port, publishing an event (several times), and waiting until
the notifier has committed past a record."""

import contextlib
import socket
import threading
import time

import httpx
import uvicorn

from sandboxes.helpdesk import HelpdeskSandboxSettings, Mailbox, start_smtp
from sandboxes.helpdesk import build_app as build_helpdesk
from shared.delivery import CloudEvent, to_kafka
from tests.support.kafka import committed_offset, eventually, produce

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
LINK_SECRET = "reminder-link-secret-for-tests-0123456789"


class Helpdesk:
    """The sandbox's SMTP sink and webhook receiver, each switchable off and on."""

    def __init__(self) -> None:
        self.mailbox, self.smtp_port = Mailbox(), free_port()
        self.smtp = start_smtp(self.mailbox, "127.0.0.1", self.smtp_port)
        app = build_helpdesk(HelpdeskSandboxSettings(webhook_secret=SECRET), self.mailbox)
        self.server, self.url = serve(app)
        self.control = httpx.Client(base_url=self.url, timeout=10)

    def down(self) -> None:
        self.smtp.stop()
        self.control.post("/_sandbox/receiver/down", json={"status": 503})

    def up(self) -> None:
        self.smtp = start_smtp(self.mailbox, "127.0.0.1", self.smtp_port)
        self.control.post("/_sandbox/receiver/up")

    def mail(self, merchant: str) -> list[dict]:
        return [m for m in self.mailbox.messages() if f"({merchant})" in (m["text"] or "")]

    def hooks(self, merchant: str) -> list[dict]:
        return [h for h in self.control.get("/webhooks").json() if (h["body"] or {}).get("data", {}).get(
            "merchant_id") == merchant]

    def settings(self) -> dict:
        return {"email": {"host": "127.0.0.1", "port": self.smtp_port, "from_address": "Xero <noreply@xero.test>",
                          "to": ["helpdesk@desk.test"], "starttls": False, "timeout_seconds": 5},
                "webhook": {"url": f"{self.url}/webhooks/helpdesk", "secret": SECRET, "timeout_seconds": 5,
                            "allow_insecure_loopback": True}}

    def merchant_settings(self, cloudpos_url: str = "http://127.0.0.1:9", platform_token: str = "unused") -> dict:
        """The merchants' email through the same SMTP sink; Cloud POS unreachable unless a test serves one."""
        return {"merchant_email": {"host": "127.0.0.1", "port": self.smtp_port, "starttls": False,
                                   "from_address": "Cloud POS <noreply@cloudpos.test>", "timeout_seconds": 5},
                "cloudpos": {"base_url": cloudpos_url, "platform_token": platform_token, "timeout_seconds": 5},
                "public_base_url": "http://notifier.test", "reminder_link_secret": LINK_SECRET}

    def close(self) -> None:
        self.control.close()
        self.server.should_exit = True
        with contextlib.suppress(AssertionError):  # already stopped by a test that failed while "down"
            self.smtp.stop()


async def publish(bootstrap: str, event: CloudEvent, times: int = 1) -> None:
    record = to_kafka(event)
    for _ in range(times):
        await produce(bootstrap, record.topic, record.value, key=record.key, headers=record.headers)


async def consumed(bootstrap: str, runtime, record) -> None:
    async def past() -> bool:
        return await committed_offset(bootstrap, runtime.consumer_group, record.topic, record.partition) > record.offset
    await eventually(past, what="the notifier to commit past the record")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(app) -> tuple[uvicorn.Server, str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True).start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    return server, f"http://127.0.0.1:{sock.getsockname()[1]}"
