"""Code every service shares: event contracts and the delivery kit. Nothing service-specific lives here."""
