"""Example platform service: posts each finalised store's daily Cloud POS sales into the store's Xero
organisation through the gateway's platform API, never holding a Xero token."""
