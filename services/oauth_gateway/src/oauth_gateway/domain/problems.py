"""What a merchant sees when something goes wrong: a readable page with a way forward, never a stack trace."""

from dataclasses import dataclass


@dataclass(eq=False)  # not frozen: contextlib sets __traceback__ on exceptions
class Problem(Exception):
    """A stable machine `code`, a heading, a message a merchant understands, and where to go next."""

    status: int
    code: str
    title: str
    message: str
    next_url: str = "/"
    next_label: str = "Back to your stores"


def signed_out() -> Problem:
    return Problem(401, "signed_out", "Please sign in", "Your session has ended. Sign in with your Cloud POS "
                   "details to carry on.", "/", "Sign in")


def forbidden_form() -> Problem:
    return Problem(403, "csrf_failed", "This form has expired", "For your security this form can only be sent "
                   "from the page that showed it. Go back to your stores and try again.")


def unknown_store() -> Problem:
    return Problem(403, "store_not_yours", "Store not available", "That store is not one of the stores listed "
                   "for your Cloud POS API key. Validate your key again to see your stores.")


def flow_expired() -> Problem:
    return Problem(400, "flow_expired", "This Xero sign-in has expired or was already used",
                   "Nothing was connected. Each Xero sign-in link works once and only for a few minutes, in the "
                   "browser that started it. Click Connect to Xero against the store to start again.")


def xero_unavailable(retry_after: int | None = None) -> Problem:
    wait = f" Xero asked us to wait about {max(1, round(retry_after / 60))} minute(s)." if retry_after else ""
    return Problem(503, "xero_unavailable", "Xero is not responding",
                   f"We could not reach Xero just now, so nothing was changed.{wait} Please try again shortly.")
