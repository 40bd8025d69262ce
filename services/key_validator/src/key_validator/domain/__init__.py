"""The key validator's rules: key format and fingerprint, the refusals, and the validation decision.

Pure and synchronous: no I/O, no settings."""

from . import refusals
from .keys import (
    KEY_PATTERN,
    MAX_KEY_LENGTH,
    ApiKey,
    InvalidKeyFormat,
    IpAddress,
    client_bucket,
    fingerprint,
    merchant_bucket,
    same,
)
from .refusals import Code, Refusal, counts_as_failure
from .rules import XERO, Attempt, KeyFacts, MerchantFacts, Validated, Validation, judge_key, judge_licence

__all__ = [
    "KEY_PATTERN",
    "MAX_KEY_LENGTH",
    "XERO",
    "ApiKey",
    "Attempt",
    "Code",
    "InvalidKeyFormat",
    "IpAddress",
    "KeyFacts",
    "MerchantFacts",
    "Refusal",
    "Validated",
    "Validation",
    "client_bucket",
    "counts_as_failure",
    "fingerprint",
    "judge_key",
    "judge_licence",
    "merchant_bucket",
    "refusals",
    "same",
]
