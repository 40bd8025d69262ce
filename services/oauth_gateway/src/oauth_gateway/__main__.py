"""`python -m oauth_gateway`: serve the service with settings from the environment;
`python -m oauth_gateway clients ...`: manage the platform's API clients (entrypoints/clients_cli.py);
`python -m oauth_gateway check-keys`: can the token keys open every stored token (entrypoints/keys_cli.py)."""

import sys

from shared.runtime import serve

from .entrypoints import clients_cli, keys_cli
from .main import build_app, platform_clients
from .settings import GatewaySettings


def main() -> None:
    if sys.argv[1:2] == ["clients"]:
        sys.exit(clients_cli.main(sys.argv[2:], platform_clients))
    if sys.argv[1:2] == ["check-keys"]:   # a restored database against the token keys (docs/backup-restore.md)
        sys.exit(keys_cli.main())
    settings = GatewaySettings()  # type: ignore[call-arg] - filled from the environment
    app = build_app(settings)
    serve(app, settings.http.host, settings.http.port,
          also=[(app.state.platform_api, settings.platform_http.host, settings.platform_http.port),
                (app.state.internal, settings.http.host, settings.http.internal_port)])


if __name__ == "__main__":
    main()
