"""The Xero client part: the only holder of Xero tokens. Access tokens on demand (one refresh per grant
across instances), the Xero work owed after a local change (DELETE a connection, revoke a grant), and the
background upkeep. The merchant's pages and, later, the platform's internal API both use it."""

from dataclasses import dataclass

from .jobs import XeroJobs
from .platform import PlatformAccess, PlatformClients
from .breaks import Breaks
from .tokens import GrantBroken, Tokens
from .upkeep import Upkeep


@dataclass(frozen=True, slots=True)
class XeroClient:
    tokens: Tokens
    jobs: XeroJobs
    upkeep: Upkeep
    breaks: Breaks


__all__ = ["Breaks", "GrantBroken", "PlatformAccess", "PlatformClients", "Tokens", "Upkeep", "XeroClient", "XeroJobs"]
