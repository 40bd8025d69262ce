"""The error shape every internal API answers with lives once, in `shared.internal_api`."""

from shared.internal_api import ErrorBody, error_response, install_error_handlers

__all__ = ["ErrorBody", "error_response", "install_error_handlers"]
