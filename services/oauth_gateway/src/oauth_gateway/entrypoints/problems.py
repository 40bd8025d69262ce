"""What a merchant sees when something goes wrong: a readable page with a way forward, never a stack trace.

The one place where refusals become pages: each `Code` has its status, its heading and where to go next.
`Problem` is also raised by the plumbing every page shares (signed out, a tampered form)."""

from dataclasses import dataclass

from ..domain.refusals import Code, Refusal


@dataclass(eq=False)  # not frozen: contextlib sets __traceback__ on exceptions
class Problem(Exception):
    """A stable machine `code`, a heading, a message a merchant understands, and where to go next."""

    status: int
    code: str
    title: str
    message: str
    next_url: str = "/"
    next_label: str = "Back to your stores"


@dataclass(frozen=True, slots=True)
class Page:
    status: int
    title: str
    next_label: str = "Back to your stores"


_SIGN_IN = "We could not sign you in"
_KEY = "Your Cloud POS API Key was not accepted"
_FLOW = "This Xero sign-in has expired or was already used"
_PAGES: dict[Code, Page] = {
    Code.MISSING_DETAILS: Page(400, "Please enter your details"),
    Code.SIGN_IN_REFUSED: Page(401, _SIGN_IN, "Try again"),
    Code.SIGN_IN_THROTTLED: Page(429, _SIGN_IN, "Try again"),
    Code.CLOUDPOS_UNAVAILABLE: Page(503, "Cloud POS is not responding", "Try again"),
    Code.MISSING_KEY: Page(400, "Please paste your Cloud POS API Key"),
    Code.KEY_REFUSED: Page(400, _KEY),
    Code.KEY_OF_OTHER_MERCHANT: Page(403, _KEY),
    Code.KEY_VALIDATOR_UNAVAILABLE: Page(503, "We could not check your key just now"),
    Code.STORE_NOT_YOURS: Page(403, "Store not available"),
    Code.RECONNECT_LINK_INVALID: Page(400, "This reconnect link cannot be used"),
    Code.BAD_CALLBACK: Page(400, "This Xero sign-in link is not valid"),
    Code.FLOW_EXPIRED: Page(400, _FLOW),
    Code.CANCELLED_AT_XERO: Page(400, "You cancelled at Xero"),
    Code.XERO_ERROR: Page(400, "Xero did not complete the sign-in"),
    Code.CODE_REJECTED: Page(400, "Xero did not accept this sign-in"),
    Code.IDENTITY_REJECTED: Page(400, "We could not confirm your Xero sign-in"),
    Code.NO_ORGANISATION: Page(400, "No Xero organisation was authorised"),
    Code.XERO_UNAVAILABLE: Page(503, "Xero is not responding"),
    Code.ORGANISATION_NOT_IN_CONSENT: Page(403, "Choose one of the listed organisations"),
    Code.ORGANISATION_NOT_CONNECTED: Page(409, "Xero says this organisation is no longer connected"),
    Code.GRANT_BROKEN: Page(409, "Your Xero sign-in has expired"),
    Code.SUBSCRIPTION_REFUSED: Page(403, "This Xero organisation cannot be connected"),
    Code.ALREADY_SELECTED: Page(409, "This store's organisation is already chosen"),
    Code.DISCONNECT_IN_PROGRESS: Page(409, "Xero is finishing an earlier disconnect"),
    Code.NOT_CONNECTED: Page(404, "That organisation is not connected"),
    Code.NOTHING_CONNECTED: Page(409, "No stores are connected yet"),
    Code.COMPLETION_REFUSED: Page(400, "We could not record that you have finished"),
    Code.REGISTRY_UNAVAILABLE: Page(503, "We could not record that just now"),
}


def problem_of(refusal: Refusal) -> Problem:
    page = _PAGES[refusal.code]
    next_url, next_label = ("/", page.next_label) if refusal.flow_id is None else \
        (f"/connect/{refusal.flow_id}", "Select an Organisation")
    return Problem(_status(refusal, page), refusal.shown_code, page.title, refusal.message, next_url, next_label)


def _status(refusal: Refusal, page: Page) -> int:
    """A refusal passed on from key_validator keeps the meaning of its answer."""
    reported = refusal.reported_status
    if refusal.code is Code.KEY_REFUSED and reported is not None and 400 <= reported < 500:
        return reported
    return page.status


def signed_out() -> Problem:
    return Problem(401, "signed_out", "Please sign in", "Your session has ended. Sign in with your Cloud POS "
                   "details to carry on.", "/", "Sign in")


def forbidden_form() -> Problem:
    return Problem(403, "csrf_failed", "This form has expired", "For your security this form can only be sent "
                   "from the page that showed it. Go back to your stores and try again.")


def unexpected_fields() -> Problem:
    return Problem(400, "unexpected_fields", "This form was changed",
                   "The form carried fields it should not. Go back to your stores and try again.")


def too_large() -> Problem:
    return Problem(413, "too_large", "This form was too large", "Nothing was changed. Go back to your stores and "
                   "try again.")


def not_a_form() -> Problem:
    return Problem(415, "not_a_form", "This form was changed", "Nothing was changed. Go back to your stores and "
                   "try again.")


def unexpected() -> Problem:
    return Problem(500, "unexpected", "Something went wrong", "Nothing was changed. Please try again; if it keeps "
                   "happening, contact the Citrus-Lime Support Team.")
