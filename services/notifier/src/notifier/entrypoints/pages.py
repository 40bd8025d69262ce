"""The merchant-facing page: the stop link of the reminders (`GET /reminders/stop?token=...`, and the
RFC 8058 one-click `POST` a mail client sends for `List-Unsubscribe`). Refusals become pages here, in one place;
nothing a visitor sends can make it answer 500.
"""

import logging

from fastapi import APIRouter
from fastapi.responses import HTMLResponse
from jinja2 import Environment

from ..connection_health import ReminderStops, Stopped
from ..domain.refusals import Code, Refusal

log = logging.getLogger(__name__)
# the token sits in the URL: no referrer leaves the page, nothing is cached or indexed
_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex",
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'none'",
            "X-Content-Type-Options": "nosniff"}
_STATUS = {Code.LINK_INCOMPLETE: 400, Code.LINK_INVALID: 400, Code.LINK_EXPIRED: 410}
_PAGE = Environment(autoescape=True).from_string("""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>{{ heading }}</title></head>
<body style="font-family:sans-serif;max-width:40em;margin:2em auto;padding:0 1em">
<h1>{{ heading }}</h1>
{% for text in paragraphs %}<p>{{ text }}</p>{% endfor %}
{% for i in reconnect %}<p><a href="{{ i.reconnect_url }}">Reconnect {{ i.store_name }} to Xero</a></p>{% endfor %}
<p>You can also sign in to Cloud POS and open Settings, Xero, where each store shows whether it is connected.</p>
</body></html>""")


def build_pages(stops: ReminderStops) -> APIRouter:
    router = APIRouter(tags=["merchant pages"])

    @router.get("/reminders/stop", response_class=HTMLResponse)
    async def stop(token: str | None = None) -> HTMLResponse:
        """Stop the reminders of the incident the link names; safe to open twice."""
        return await _stop(stops, token)

    @router.post("/reminders/stop", response_class=HTMLResponse)
    async def one_click(token: str | None = None) -> HTMLResponse:
        """RFC 8058: the mail client's one-click unsubscribe posts to the List-Unsubscribe URL."""
        return await _stop(stops, token)

    return router


async def _stop(stops: ReminderStops, token: str | None) -> HTMLResponse:
    try:
        outcome = await stops.stop(token)
    except Exception:  # the database away: say so plainly, and the link still works later
        log.exception("could not stop reminders")
        return _page(503, "Please try again in a few minutes",
                     ["We could not record your request just now. Nothing was changed; the same link will work "
                      "later."])
    if isinstance(outcome, Refusal):
        return _refused(outcome)
    return _stopped(outcome)


def _stopped(outcome: Stopped) -> HTMLResponse:
    if outcome.already_restored:
        return _page(200, "No more reminders", ["Good news: this Xero connection was already repaired, so there is "
                                                "nothing more to remind you about."])
    open_ones = [i for i in outcome.incidents if i.restored_at is None and i.reconnect_url
                 and i.reconnect_url.startswith(("https://", "http://"))]
    stores = ", ".join(i.store_name for i in open_ones if i.store_name)
    still = (f"Until you reconnect, Cloud POS still cannot post the sales of {stores} to Xero." if stores else
             "Until you reconnect, Cloud POS still cannot post that store's sales to Xero.")
    return _page(200, "Reminders stopped", ["We will not send you any more reminders about this Xero connection.",
                                            still, "You can reconnect at any time:"], open_ones)


def _refused(refusal: Refusal) -> HTMLResponse:
    if refusal.code is Code.LINK_EXPIRED:
        heading, advice = "This link has expired", "Reminders about a connection problem end on their own anyway."
    else:
        heading, advice = "This link does not work", ("Nothing was changed. Please use the link in the latest email "
                                                      "from us, copied in full.")
    return _page(_STATUS[refusal.code], heading, [refusal.message, advice])


def body_refused(_scope: object, status: int) -> HTMLResponse:
    """`shared.http_limits.BodyLimit`'s answer on the page: a one-click request never needs a large body."""
    return _page(status, "This request was not accepted", ["Please open the link from the email instead."])


def _page(status: int, heading: str, paragraphs: list[str], reconnect: list | None = None) -> HTMLResponse:
    html = _PAGE.render(heading=heading, paragraphs=paragraphs, reconnect=reconnect or [])
    return HTMLResponse(html, status_code=status, headers=_HEADERS)
