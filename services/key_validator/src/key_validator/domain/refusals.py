"""Every outcome of a validation: a stable machine code, and for refusals a message a merchant understands."""

from dataclasses import dataclass
from enum import StrEnum


class Code(StrEnum):
    VALIDATED = "validated"
    INVALID_FORMAT = "invalid_format"
    UNKNOWN_KEY = "unknown_key"
    KEY_REVOKED = "key_revoked"
    KEY_FOR_OTHER_SERVICE = "key_for_other_service"
    KEY_OF_OTHER_MERCHANT = "key_of_other_merchant"
    LICENCE_NOT_PRO_PLUS = "licence_not_pro_plus"
    TOO_MANY_ATTEMPTS = "too_many_attempts"
    CLOUDPOS_UNAVAILABLE = "cloudpos_unavailable"


_RETRYABLE = {Code.TOO_MANY_ATTEMPTS, Code.CLOUDPOS_UNAVAILABLE}
# Outcomes that do not spend the failed-attempt budget: success, and Cloud POS being away (not the merchant's doing).
_NOT_FAILURES = {Code.VALIDATED, Code.CLOUDPOS_UNAVAILABLE}

SERVICE_LABELS = {"xero": "Xero", "bike_rental_manager": "Bike Rental Manager"}
LICENCE_LABELS = {"pro_plus": "Pro Plus", "pro": "Pro", "standard": "Standard", "lite": "Lite"}
_WHERE = ("Back Office: Main Menu → Setup → Configuration → General → "
          "External Access To The Cloud POS API, the key labelled 'Xero API Client'")
_NEW_KEY = "Please contact the Citrus-Lime Support Team (phone or Live Chat) to request an API key for Xero."


@dataclass(frozen=True, slots=True)
class Refusal:
    code: Code
    message: str
    retry_after_seconds: int | None = None

    @property
    def retryable(self) -> bool:
        return self.code in _RETRYABLE


def counts_as_failure(code: Code) -> bool:
    return code not in _NOT_FAILURES


def service_label(service: str) -> str:
    """A person's name for a Cloud POS service id: bike_rental_manager → 'Bike Rental Manager'."""
    words = service.replace("_", " ").replace("-", " ").strip().title()
    return SERVICE_LABELS.get(service) or words or "another service"


def licence_label(licence: str) -> str:
    return LICENCE_LABELS.get(licence) or licence.replace("_", " ").title()


def invalid_format(field: str = "api_key") -> Refusal:
    if field == "api_key":
        return Refusal(Code.INVALID_FORMAT, "This doesn't look like a Cloud POS API key. Keys start with 'cpk_' and "
                       f"contain only letters, digits, '-' and '_'. Copy the whole key from the {_WHERE}.")
    return Refusal(Code.INVALID_FORMAT, f"The request is malformed: {field}.")


def unknown_key() -> Refusal:
    return Refusal(Code.UNKNOWN_KEY, "We don't recognise this Cloud POS API key. Check that you copied the whole "
                   f"key from the {_WHERE}. If it still isn't recognised, contact the Citrus-Lime Support Team.")


def key_revoked() -> Refusal:
    return Refusal(Code.KEY_REVOKED, f"This Cloud POS API key has been revoked and can no longer be used. {_NEW_KEY}")


def key_for_other_service(service: str) -> Refusal:
    return Refusal(Code.KEY_FOR_OTHER_SERVICE,
                   f"This Cloud POS API key was issued for {service_label(service)}, not for Xero. A key issued for "
                   f"one service can't be used for another. {_NEW_KEY}")


def key_of_other_merchant() -> Refusal:
    return Refusal(Code.KEY_OF_OTHER_MERCHANT,
                   "This Cloud POS API key belongs to a different Cloud POS account from the one you're signed in "
                   "with. Sign in with the account the key was issued for, or use your own account's Xero API key.")


def licence_not_pro_plus(licence: str) -> Refusal:
    return Refusal(Code.LICENCE_NOT_PRO_PLUS,
                   f"The Xero integration needs a Cloud POS Pro Plus licence, and your account has a "
                   f"{licence_label(licence)} licence. Please contact the Citrus-Lime Success Team to upgrade.")


def too_many_attempts(retry_after_seconds: int) -> Refusal:
    minutes = max(1, -(-retry_after_seconds // 60))
    return Refusal(Code.TOO_MANY_ATTEMPTS,
                   f"Too many unsuccessful attempts to validate an API key. For your security, please wait "
                   f"{minutes} minute{'s' if minutes != 1 else ''} before trying again.", retry_after_seconds)


def cloudpos_unavailable() -> Refusal:
    return Refusal(Code.CLOUDPOS_UNAVAILABLE, "We couldn't reach Cloud POS to check your API key. This is "
                   "temporary and nothing was lost: please try again in a minute.")
