"""The set of use-case objects the routes and the background loop call, built once from the ports."""

from dataclasses import dataclass
from datetime import timedelta

from .common import Deps
from .connect import ConnectHandlers
from .disconnect import DisconnectHandlers
from .select import SelectionHandlers
from .sessions import SessionHandlers
from .tokens import TokenService
from .upkeep import Upkeep


@dataclass(frozen=True)
class GatewayHandlers:
    deps: Deps
    sessions: SessionHandlers
    tokens: TokenService
    connect: ConnectHandlers
    select: SelectionHandlers
    disconnect: DisconnectHandlers
    upkeep: Upkeep


def build_handlers(deps: Deps, issuer: str, refresh_after: timedelta) -> GatewayHandlers:
    tokens = TokenService(deps)
    disconnects = DisconnectHandlers(deps, tokens)
    return GatewayHandlers(deps, SessionHandlers(deps), tokens, ConnectHandlers(deps, issuer),
                           SelectionHandlers(deps, tokens, disconnects), disconnects,
                           Upkeep(deps, tokens, disconnects, refresh_after))
