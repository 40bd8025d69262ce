"""`python -m sandboxes.helpdesk --host 127.0.0.1 --http-port 8730 --smtp-port 8725`: both sinks, one process."""

from __future__ import annotations

import argparse

import uvicorn

from sandboxes.helpdesk.app import build_app
from sandboxes.helpdesk.mailbox import Mailbox, start_smtp
from sandboxes.helpdesk.settings import HelpdeskSandboxSettings


def main(argv: list[str] | None = None) -> None:
    settings = HelpdeskSandboxSettings()
    parser = argparse.ArgumentParser(prog="python -m sandboxes.helpdesk", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="interface for both servers (keep it on loopback)")
    parser.add_argument("--http-port", type=int, default=8730)
    parser.add_argument("--smtp-port", type=int, default=settings.smtp_port)
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)

    mailbox = Mailbox()
    app = build_app(settings, mailbox)
    smtp = start_smtp(mailbox, args.host, args.smtp_port)
    try:
        uvicorn.run(app, host=args.host, port=args.http_port, log_level=args.log_level)
    finally:
        smtp.stop()


if __name__ == "__main__":
    main()
