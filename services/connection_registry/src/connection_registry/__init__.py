"""connection_registry: the source of truth for merchants, stores, Xero organisations and their links."""
