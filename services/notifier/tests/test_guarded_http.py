"""SSRF guard (checklist 48): https only, no internal addresses, checked again at every connection."""

import asyncio
import socket
from uuid import uuid4

import pytest
from pydantic import ValidationError

from notifier.adapters.guarded_http import guarded_client
from notifier.adapters.webhook import WebhookSender
from notifier.domain.addresses import address_allowed
from notifier.domain.delivery import Outcome
from notifier.domain.notifications import notification_for
from notifier.settings import WebhookSettings
from shared.contracts.examples import ALL

from .fakes import START

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
NOTIFICATION = notification_for(uuid4(), START, next(e for e in ALL if e.type.endswith("SetupCompleted.v1")))


@pytest.mark.parametrize("url", [
    "http://helpdesk.example.com/hook",          # not https
    "ftp://helpdesk.example.com/hook",
    "https://127.0.0.1/hook", "https://localhost/hook", "https://[::1]/hook",
    "https://169.254.169.254/latest/meta-data", "https://10.1.2.3/hook", "https://192.168.0.1/hook",
    "https://[::ffff:127.0.0.1]/hook", "https://0.0.0.0/hook",
    "https://user:pass@helpdesk.example.com/hook",
    "http://127.0.0.1:8730/hook",                # loopback over http needs the explicit flag
])
def test_unsafe_webhook_urls_are_refused(url):
    with pytest.raises(ValidationError) as error:
        WebhookSettings(url=url, secret=SECRET)
    assert "user:pass" not in str(error.value) and SECRET not in str(error.value)


def test_loopback_over_http_only_with_the_explicit_flag_and_never_private_addresses():
    assert WebhookSettings(url="http://127.0.0.1:8730/hook", secret=SECRET, allow_insecure_loopback=True)
    assert WebhookSettings(url="https://helpdesk.example.com/hook", secret=SECRET)
    with pytest.raises(ValidationError):
        WebhookSettings(url="http://169.254.169.254/", secret=SECRET, allow_insecure_loopback=True)
    with pytest.raises(ValidationError):
        WebhookSettings(url="http://helpdesk.example.com/", secret=SECRET, allow_insecure_loopback=True)


@pytest.mark.parametrize(("address", "allowed"), [
    ("93.184.216.34", True), ("2606:2800:220:1:248:1893:25c8:1946", True), ("127.0.0.1", False),
    ("::1", False), ("10.0.0.1", False), ("172.16.0.1", False), ("169.254.169.254", False),
    ("fe80::1", False), ("fc00::1", False), ("::ffff:10.0.0.1", False), ("224.0.0.1", False), ("0.0.0.0", False)])
def test_address_policy(address, allowed):
    assert address_allowed(address, allow_loopback=False) is allowed


def fixed(*addresses: str):
    async def resolve(host: str, port: int) -> list[str]:
        return list(addresses)
    return resolve


def rebinding(*answers: list[str]):
    """A DNS name that answers differently each time it is asked (rebinding)."""
    queue = list(answers)

    async def resolve(host: str, port: int) -> list[str]:
        return queue.pop(0)
    return resolve


@pytest.fixture
async def listener():
    """A real TCP server on loopback that answers 204 to anything."""
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0, family=socket.AF_INET)
    yield server.sockets[0].getsockname()[1]
    server.close()


async def send_via(resolver, port: int, allow_loopback: bool):
    client = guarded_client(timeout=5, allow_loopback=allow_loopback, resolver=resolver)
    async with client:
        return await WebhookSender(f"http://helpdesk.test:{port}/hook", SECRET, client).send(uuid4(), NOTIFICATION)


async def test_a_name_resolving_to_loopback_is_refused_for_good(listener):
    result = await send_via(fixed("127.0.0.1"), listener, allow_loopback=False)
    assert result.outcome is Outcome.PERMANENT and "forbidden address" in result.detail


async def test_the_guard_lets_allowed_addresses_through_and_connects_by_ip(listener):
    assert (await send_via(fixed("10.0.0.7", "127.0.0.1"), listener, allow_loopback=True)).outcome \
        is Outcome.DELIVERED


async def test_dns_rebinding_is_caught_at_the_next_connection(listener):
    """The first answer is allowed (loopback stands in for a public address here); the next is not."""
    client = guarded_client(timeout=5, allow_loopback=True, resolver=rebinding(["127.0.0.1"], ["169.254.169.254"]))
    async with client:
        sender = WebhookSender(f"http://helpdesk.test:{listener}/hook", SECRET, client)
        first = await sender.send(uuid4(), NOTIFICATION)
        second = await sender.send(uuid4(), NOTIFICATION)
    assert first.outcome is Outcome.DELIVERED
    assert second.outcome is Outcome.PERMANENT and "forbidden address" in second.detail
