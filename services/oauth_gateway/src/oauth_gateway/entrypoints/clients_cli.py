"""`python -m oauth_gateway clients ...`: ops manage the platform's clients of the internal API.

    clients add NAME [--operation OP ...] [--merchant ID ...] [--token-env VAR]
    clients disable NAME
    clients list

`add` takes the token from the environment variable named by --token-env (so it never shows in `ps`), or
makes one and prints it once. Only its hash is stored. The database is `OAUTH_GATEWAY_DATABASE__URL`; the
gateway must have run once (it applies the migrations).
"""

import argparse
import asyncio
import os
import secrets
import sys
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

from ..domain.platform import Operation, PlatformClient
from ..xero_client import PlatformClients


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m oauth_gateway clients", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = root.add_subparsers(dest="command", required=True)
    add = commands.add_parser("add", help="create a client, or give it a new token and operations")
    add.add_argument("name")
    add.add_argument("--operation", action="append", choices=[op.value for op in Operation],
                     help="repeatable; default: all of them")
    add.add_argument("--merchant", action="append", help="repeatable; default: every merchant")
    add.add_argument("--token-env", help="name of the environment variable holding the token")
    commands.add_parser("disable", help="stop a client's token working").add_argument("name")
    commands.add_parser("list", help="clients, their operations and merchants")
    return root


async def run(args: argparse.Namespace, clients: PlatformClients) -> int:
    if args.command == "add":
        token = os.environ.get(args.token_env, "") if args.token_env else "cpx_" + secrets.token_urlsafe(32)
        operations = frozenset(Operation(op) for op in (args.operation or [op.value for op in Operation]))
        merchants = frozenset(args.merchant) if args.merchant else None
        try:
            await clients.register(PlatformClient(args.name, operations, merchants), token)
        except ValueError as error:
            print(f"refused: {error}", file=sys.stderr)
            return 2
        print(f"client {args.name!r} registered" + ("" if args.token_env else f"; its token (shown once): {token}"))
        return 0
    if args.command == "disable":
        done = await clients.disable(args.name)
        print(f"client {args.name!r} disabled" if done else f"no active client {args.name!r}")
        return 0 if done else 1
    for client, disabled_at in await clients.listing():
        merchants = ", ".join(sorted(client.merchants)) if client.merchants is not None else "every merchant"
        state = f"disabled {disabled_at:%Y-%m-%d %H:%M}" if disabled_at else "active"
        print(f"{client.name}\t{state}\t{','.join(sorted(op.value for op in client.operations))}\t{merchants}")
    return 0


def main(argv: list[str], platform_clients: Callable[[str], AbstractAsyncContextManager[PlatformClients]]) -> int:
    """`platform_clients(database_url)`: the composition root's builder (main.platform_clients)."""
    args = parser().parse_args(argv)
    url = os.environ.get("OAUTH_GATEWAY_DATABASE__URL")
    if not url:
        print("set OAUTH_GATEWAY_DATABASE__URL to the gateway's database", file=sys.stderr)
        return 2

    async def go() -> int:
        async with platform_clients(url) as clients:
            return await run(args, clients)

    return asyncio.run(go())
