"""The merchant web part: the use cases behind the setup pages (sign-in and key, Connect to Xero, Select an
Organisation, Disconnect from Xero, the summary and "I have finished"). Each returns a value or a
`domain.refusals.Refusal`; `entrypoints.problems` turns refusals into pages."""

from dataclasses import dataclass

from .connect import Connect
from .disconnect import Disconnect
from .reconnect import Reconnect
from .refusals_log import RefusalLog
from .select import Select
from .sessions import SessionLifetime, Sessions
from .summary import Summaries


@dataclass(frozen=True, slots=True)
class MerchantUseCases:
    sessions: Sessions
    connect: Connect
    select: Select
    disconnect: Disconnect
    summaries: Summaries
    reconnect: Reconnect


__all__ = ["Connect", "Disconnect", "MerchantUseCases", "Reconnect", "RefusalLog", "Select", "SessionLifetime",
           "Sessions", "Summaries"]
