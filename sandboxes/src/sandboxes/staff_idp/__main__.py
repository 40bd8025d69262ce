"""`python -m sandboxes.staff_idp --host 127.0.0.1 --port 8740`: the staff identity sandbox under uvicorn."""

from __future__ import annotations

import argparse

import uvicorn

from sandboxes.staff_idp.app import build_app
from sandboxes.staff_idp.settings import StaffIdpSandboxSettings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sandboxes.staff_idp", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8740)
    args = parser.parse_args(argv)
    settings = StaffIdpSandboxSettings()  # STAFF_IDP_SANDBOX_* env; fails loudly without the client secret
    # access_log off: query strings carry codes and the log must not hold secrets.
    uvicorn.run(build_app(settings), host=args.host, port=args.port, access_log=False, server_header=False)


if __name__ == "__main__":
    main()
