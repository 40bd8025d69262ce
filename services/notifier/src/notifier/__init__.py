"""notifier: Tells the helpdesk, exactly once, when a merchant finished connecting stores."""
