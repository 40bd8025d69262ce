"""Every way the merchant's request can be refused, as values: a stable `code` and a message in the
merchant's words. The use cases return them; `entrypoints.problems` alone decides the HTTP status, the
heading and the way forward of the page that shows them."""

from dataclasses import dataclass
from enum import StrEnum
from uuid import UUID


class Code(StrEnum):
    MISSING_DETAILS = "missing_details"
    SIGN_IN_REFUSED = "sign_in_refused"                  # unknown, wrong, locked or throttled: one answer
    SIGN_IN_THROTTLED = "sign_in_throttled"              # too many failures from the client's address
    CLOUDPOS_UNAVAILABLE = "cloudpos_unavailable"
    MISSING_KEY = "missing_key"
    KEY_REFUSED = "key_refused"                          # key_validator said no: its own code is shown
    KEY_OF_OTHER_MERCHANT = "key_of_other_merchant"
    KEY_VALIDATOR_UNAVAILABLE = "key_validator_unavailable"
    STORE_NOT_YOURS = "store_not_yours"
    RECONNECT_LINK_INVALID = "reconnect_link_invalid"
    BAD_CALLBACK = "bad_callback"
    FLOW_EXPIRED = "flow_expired"
    CANCELLED_AT_XERO = "cancelled_at_xero"
    XERO_ERROR = "xero_error"
    CODE_REJECTED = "code_rejected"
    IDENTITY_REJECTED = "identity_rejected"
    NO_ORGANISATION = "no_organisation"
    XERO_UNAVAILABLE = "xero_unavailable"
    ORGANISATION_NOT_IN_CONSENT = "organisation_not_in_consent"
    ORGANISATION_NOT_CONNECTED = "organisation_not_connected"
    GRANT_BROKEN = "grant_broken"
    SUBSCRIPTION_REFUSED = "subscription_refused"
    ALREADY_SELECTED = "already_selected"
    DISCONNECT_IN_PROGRESS = "disconnect_in_progress"    # an earlier disconnect at Xero may remove this one
    NOT_CONNECTED = "not_connected"
    NOTHING_CONNECTED = "nothing_connected"
    COMPLETION_REFUSED = "completion_refused"            # the registry said no: its own code is shown
    REGISTRY_UNAVAILABLE = "registry_unavailable"


@dataclass(frozen=True, slots=True)
class Refusal:
    """`reported_code`/`reported_status`: what Cloud POS or one of our services answered, passed on as is.
    `flow_id`: the "Select an Organisation" page the merchant can go back to. `store_id`: the store whose row
    on the stores page shows the refusal, next to its button to try again."""

    code: Code
    message: str
    reported_code: str | None = None
    reported_status: int | None = None
    retry_after: int | None = None
    flow_id: UUID | None = None
    store_id: str | None = None

    @property
    def shown_code(self) -> str:
        return self.reported_code or self.code.value


_CONNECT_AGAIN = "Click Connect to Xero against the store to try again."


def missing_details() -> Refusal:
    return Refusal(Code.MISSING_DETAILS, "Enter the email address and password you use for Cloud POS.")


def sign_in_refused() -> Refusal:
    """One answer for an unknown account, a wrong password, a locked or disabled account and an account whose
    budget is spent: anything more tells a stranger that the account exists (Cloud POS's own code goes to
    the audit log only)."""
    return Refusal(Code.SIGN_IN_REFUSED, "Those sign-in details did not work. Check them and try again in a few "
                   "minutes; if it keeps happening, reset your password in Cloud POS.")


def sign_in_throttled(retry_after: int) -> Refusal:
    """About the client's address, not the account: it tells nothing about any account."""
    minutes = max(1, round(retry_after / 60))
    return Refusal(Code.SIGN_IN_THROTTLED, f"There have been too many failed sign-ins from your network. Please "
                   f"try again in about {minutes} minute{'s' if minutes > 1 else ''}.", retry_after=retry_after)


def cloudpos_unavailable() -> Refusal:
    return Refusal(Code.CLOUDPOS_UNAVAILABLE,
                   "We could not check your details with Cloud POS just now. Please try again shortly.")


def missing_key() -> Refusal:
    return Refusal(Code.MISSING_KEY, "Copy the key labelled Xero API Client from the Back Office and paste it in.")


def key_refused(status: int, code: str, message: str) -> Refusal:
    return Refusal(Code.KEY_REFUSED, message, reported_code=code, reported_status=status)


def key_of_other_merchant() -> Refusal:
    return Refusal(Code.KEY_OF_OTHER_MERCHANT, "This API key belongs to a different Cloud POS account.")


def key_validator_unavailable() -> Refusal:
    return Refusal(Code.KEY_VALIDATOR_UNAVAILABLE, "Please try again in a moment. Your key was not stored.")


def store_not_yours() -> Refusal:
    return Refusal(Code.STORE_NOT_YOURS, "That store is not one of the stores listed for your Cloud POS API key. "
                   "Validate your key again to see your stores.")


def reconnect_link_invalid() -> Refusal:
    return Refusal(Code.RECONNECT_LINK_INVALID, "This reconnect link has expired or is for another account. Your "
                   "stores that need reconnecting are listed on your stores page, each with a Reconnect button.")


def bad_callback() -> Refusal:
    return Refusal(Code.BAD_CALLBACK,
                   "Nothing was connected. Start again with Connect to Xero against the store.")


def flow_expired() -> Refusal:
    return Refusal(Code.FLOW_EXPIRED, "Nothing was connected. Each Xero sign-in link works once and only for a "
                   "few minutes, in the browser that started it. Click Connect to Xero against the store to start "
                   "again.")


def cancelled_at_xero(store_name: str) -> Refusal:
    return Refusal(Code.CANCELLED_AT_XERO, f"No Xero organisation was connected to '{store_name}'. When you are "
                   "ready, click Connect to Xero against the store and choose Allow access at Xero.")


def xero_error(error: str) -> Refusal:
    return Refusal(Code.XERO_ERROR, f"Xero reported '{error[:40]}', so nothing was connected. {_CONNECT_AGAIN}")


def code_rejected() -> Refusal:
    return Refusal(Code.CODE_REJECTED, f"Nothing was connected. {_CONNECT_AGAIN}")


def identity_rejected() -> Refusal:
    return Refusal(Code.IDENTITY_REJECTED, f"Nothing was connected. {_CONNECT_AGAIN}")


def no_organisation() -> Refusal:
    return Refusal(Code.NO_ORGANISATION, "Xero did not report an organisation for this sign-in. Click Connect to "
                   "Xero and choose an organisation on Xero's page before you click Allow access.")


def xero_unavailable(retry_after: int | None = None, flow_id: UUID | None = None) -> Refusal:
    wait = f" Xero asked us to wait about {max(1, round(retry_after / 60))} minute(s)." if retry_after else ""
    return Refusal(Code.XERO_UNAVAILABLE, f"We could not reach Xero just now, so nothing was changed.{wait} "
                   "Please try again shortly.", retry_after=retry_after, flow_id=flow_id)


def organisation_not_in_consent(flow_id: UUID) -> Refusal:
    return Refusal(Code.ORGANISATION_NOT_IN_CONSENT,
                   "Only organisations you authorised at Xero for this store can be selected.", flow_id=flow_id)


def organisation_not_connected() -> Refusal:
    return Refusal(Code.ORGANISATION_NOT_CONNECTED, "The app's access to this organisation was removed in Xero. "
                   "Click Connect to Xero against the store to authorise it again.")


def grant_broken() -> Refusal:
    return Refusal(Code.GRANT_BROKEN, "Click Connect to Xero against the store to sign in to Xero again.")


def subscription_refused(reason: str, store_id: str | None = None) -> Refusal:
    return Refusal(Code.SUBSCRIPTION_REFUSED, reason, store_id=store_id)


def already_selected() -> Refusal:
    return Refusal(Code.ALREADY_SELECTED, "To change it, click Change organisation against the store.")


def disconnect_in_progress() -> Refusal:
    return Refusal(Code.DISCONNECT_IN_PROGRESS, "Xero is finishing an earlier disconnect of this organisation, so "
                   "nothing was connected. Please click Connect to Xero against the store again.")


def not_connected() -> Refusal:
    return Refusal(Code.NOT_CONNECTED,
                   "It may already have been disconnected. The summary shows what is connected now.")


def nothing_connected() -> Refusal:
    return Refusal(Code.NOTHING_CONNECTED, "Connect at least one store to a Xero organisation before you tell us "
                   "you have finished.")


def completion_refused(code: str, message: str) -> Refusal:
    return Refusal(Code.COMPLETION_REFUSED, message, reported_code=code)


def registry_unavailable() -> Refusal:
    return Refusal(Code.REGISTRY_UNAVAILABLE, "Please try again in a moment.")
