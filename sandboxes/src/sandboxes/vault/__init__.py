"""A faithful local stand-in for the part of HashiCorp Vault's Transit secrets engine the platform uses to keep
merchants' keys (shared.personal_data.vault): never deployed to production, which uses a real Vault."""

from sandboxes.vault.app import build_app
from sandboxes.vault.settings import VaultSandboxSettings

__all__ = ["VaultSandboxSettings", "build_app"]
