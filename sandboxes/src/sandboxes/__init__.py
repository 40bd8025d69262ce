"""Local sandboxes of the third parties the product talks to: Xero, Cloud POS and the helpdesk."""
