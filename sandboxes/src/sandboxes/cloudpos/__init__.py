"""Local stand-in for the Cloud POS platform: sign-in, API-key introspection, merchants, stores and their daily sales.

Services talk to it through the same HTTP contract as the real platform, so switching to the
real one is only a base URL and credentials.
"""

from sandboxes.cloudpos.app import build_app
from sandboxes.cloudpos.settings import CloudPosSandboxSettings

__all__ = ["CloudPosSandboxSettings", "build_app"]
