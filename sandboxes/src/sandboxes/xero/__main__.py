"""`python -m sandboxes.xero --host 127.0.0.1 --port 8710`: runs the sandbox under uvicorn, settings from env."""

from __future__ import annotations

import argparse

import uvicorn

from sandboxes.xero.app import build_app
from sandboxes.xero.settings import XeroSandboxSettings


def main() -> None:
    parser = argparse.ArgumentParser(description="Local Xero identity + Connections + Organisation sandbox")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8710)
    args = parser.parse_args()
    settings = XeroSandboxSettings()  # XERO_SANDBOX_* env; fails loudly when secrets are missing
    # access_log off: query strings carry codes and the log must not hold secrets.
    uvicorn.run(build_app(settings), host=args.host, port=args.port, access_log=False, server_header=False)


if __name__ == "__main__":
    main()
