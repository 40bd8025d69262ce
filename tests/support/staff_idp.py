"""The staff identity sandbox on a real loopback port, with the console's settings pointing at it."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sandboxes.staff_idp import StaffIdpSandboxSettings, build_app

from .http import bound_socket, served, url_of

CLIENT_ID, CLIENT_SECRET = "helpdesk-console", "staff-idp-secret-for-tests"


@contextmanager
def staff_identity(console_url: str) -> Iterator[dict[str, Any]]:
    """Serve the provider for a console at `console_url`; yield the registry's `staff_identity` settings."""
    sock = bound_socket()
    issuer = url_of(sock)
    callback, signed_out = f"{console_url}/helpdesk/callback", f"{console_url}/helpdesk/signed-out"
    app = build_app(StaffIdpSandboxSettings(issuer=issuer, client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
                                            redirect_uris=[callback], post_logout_redirect_uris=[signed_out]))
    with served(app, lifespan="off", sock=sock):
        yield {"issuer": issuer, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "redirect_uri": callback,
               "post_logout_redirect_uri": signed_out}
