"""`python -m daily_sales`: serve the service with settings from the environment."""

from shared.runtime import serve

from .main import build_app
from .settings import DailySalesSettings


def main() -> None:
    settings = DailySalesSettings()  # type: ignore[call-arg] - filled from the environment
    serve(build_app(settings), settings.http.host, settings.http.port)


if __name__ == "__main__":
    main()
