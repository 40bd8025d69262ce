"""oauth_gateway: The merchant's Xero setup pages and the Xero OAuth 2.0 client."""
