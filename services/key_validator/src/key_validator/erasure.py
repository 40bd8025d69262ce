"""The key validator's part of erasing a merchant (docs/erasure.md): its validation attempts name the Cloud POS user
and the client address, so they are deleted (the counts stay in merchant_erasures). Rate-limit buckets expire by
themselves within their window."""

from shared.erasure import delete

STATEMENTS = (delete("validation_attempts"),)
DESCRIPTION = "Delete the merchant's validation attempts (user ids, client addresses); keep the counts."
