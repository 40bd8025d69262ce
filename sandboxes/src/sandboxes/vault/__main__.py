"""`python -m sandboxes.vault --host 127.0.0.1 --port 8750`: the Vault Transit sandbox under uvicorn."""

from __future__ import annotations

import argparse

import uvicorn

from sandboxes.vault.app import build_app
from sandboxes.vault.settings import VaultSandboxSettings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sandboxes.vault", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8750)
    args = parser.parse_args(argv)
    settings = VaultSandboxSettings()  # VAULT_SANDBOX_* env; fails loudly without the root token
    uvicorn.run(build_app(settings), host=args.host, port=args.port, access_log=False, server_header=False)


if __name__ == "__main__":
    main()
