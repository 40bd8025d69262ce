"""The SMTP sink keeps what the notifier sends, and the HTTP side shows it."""

import smtplib
from email.message import EmailMessage

import aiosmtplib


def _message(subject="Xero integration ready to finalise", text="Steve's Cycles connected 2 stores.",
             html="<p>Steve's Cycles connected <b>2</b> stores.</p>") -> EmailMessage:
    message = EmailMessage()
    message["From"] = "Cloud POS Xero <noreply@cloudpos-xero.test>"
    message["To"] = "Helpdesk <helpdesk@citrus-lime.test>, backup@citrus-lime.test"
    message["Subject"] = subject
    message["Message-ID"] = "<finalise-1@cloudpos-xero.test>"
    message.set_content(text)
    if html is not None:
        message.add_alternative(html, subtype="html")
    return message


def test_multipart_message_is_captured_with_both_parts(smtp_port, helpdesk):
    with smtplib.SMTP("127.0.0.1", smtp_port, timeout=10) as smtp:
        smtp.send_message(_message())
    [mail] = helpdesk.get("/mail").json()
    assert mail["from"] == "Cloud POS Xero <noreply@cloudpos-xero.test>"
    assert mail["to"] == ["helpdesk@citrus-lime.test", "backup@citrus-lime.test"]
    assert mail["envelope_from"] == "noreply@cloudpos-xero.test"
    assert sorted(mail["envelope_to"]) == ["backup@citrus-lime.test", "helpdesk@citrus-lime.test"]
    assert mail["subject"] == "Xero integration ready to finalise"
    assert mail["message_id"] == "<finalise-1@cloudpos-xero.test>"
    assert mail["text"].strip() == "Steve's Cycles connected 2 stores."
    assert "<b>2</b>" in mail["html"]


def test_text_only_message_has_no_html_and_smtp_login_is_accepted(smtp_port, helpdesk):
    with smtplib.SMTP("127.0.0.1", smtp_port, timeout=10) as smtp:
        smtp.login("notifier", "any-password")
        smtp.send_message(_message(html=None))
    [mail] = helpdesk.get("/mail").json()
    assert mail["html"] is None and mail["auth_login"] == "notifier"
    assert "any-password" not in str(mail)


async def test_async_client_and_reset(smtp_port, helpdesk):
    await aiosmtplib.send(_message(subject="Async hello"), hostname="127.0.0.1", port=smtp_port)
    assert [m["subject"] for m in helpdesk.get("/mail").json()] == ["Async hello"]
    assert helpdesk.post("/_sandbox/reset").status_code == 200
    assert helpdesk.get("/mail").json() == []


def test_inbox_page_shows_mail_newest_first_and_escaped(smtp_port, helpdesk):
    with smtplib.SMTP("127.0.0.1", smtp_port, timeout=10) as smtp:
        smtp.send_message(_message(subject="First"))
        smtp.send_message(_message(subject="Second <script>", text="Body of the second"))
    page = helpdesk.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    assert html.index("Second &lt;script&gt;") < html.index("First")
    assert "<script>" not in html
    assert "helpdesk@citrus-lime.test" in html and "Body of the second" in html
