"""Local helpdesk sinks: an SMTP server and a signed-webhook receiver that keep what they get.

The notifier sends to them exactly as it would to a real mail relay or helpdesk webhook, so
tests and local runs can read back what a person at the helpdesk would have received.
"""

from sandboxes.helpdesk.app import build_app
from sandboxes.helpdesk.mailbox import Mailbox, start_smtp
from sandboxes.helpdesk.settings import HelpdeskSandboxSettings

__all__ = ["HelpdeskSandboxSettings", "Mailbox", "build_app", "start_smtp"]
