"""`python -m notifier`: serve the service with settings from the environment."""

from shared.runtime import serve

from .main import build_app
from .settings import NotifierSettings


def main() -> None:
    settings = NotifierSettings()  # type: ignore[call-arg] - filled from the environment
    app = build_app(settings)
    serve(app, settings.http.host, settings.http.port,
          also=[(app.state.internal, settings.http.host, settings.http.internal_port)])


if __name__ == "__main__":
    main()
