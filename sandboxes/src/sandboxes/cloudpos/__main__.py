"""`python -m sandboxes.cloudpos --host 127.0.0.1 --port 8720`: serve the sandbox with settings from the environment."""

from __future__ import annotations

import argparse

import uvicorn

from sandboxes.cloudpos.app import build_app
from sandboxes.cloudpos.settings import CloudPosSandboxSettings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sandboxes.cloudpos", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (keep it on loopback)")
    parser.add_argument("--port", type=int, default=8720)
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    app = build_app(CloudPosSandboxSettings())
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)


if __name__ == "__main__":
    main()
