"""The notifier's rules, pure and synchronous: what the helpdesk is told and how a delivery proceeds."""
