"""key_validator: Validates a merchant's Cloud POS API key for the Xero service and publishes KeyValidated."""
