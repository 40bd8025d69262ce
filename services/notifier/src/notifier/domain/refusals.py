"""Expected refusals as values (`Refusal(code, message)`), never raised: `entrypoints.pages` alone turns them
into pages."""

from dataclasses import dataclass
from enum import StrEnum


class Code(StrEnum):
    LINK_INCOMPLETE = "link_incomplete"    # no token at all
    LINK_INVALID = "link_invalid"          # malformed, tampered with, or signed with another key
    LINK_EXPIRED = "link_expired"


@dataclass(frozen=True, slots=True)
class Refusal:
    code: Code
    message: str
