"""`python -m connection_registry`: serve the registry with settings from the environment."""

from shared.runtime import serve

from .main import build_app
from .settings import RegistrySettings


def main() -> None:
    settings = RegistrySettings()  # type: ignore[call-arg] - filled from the environment
    serve(build_app(settings), settings.http.host, settings.http.port)


if __name__ == "__main__":
    main()
