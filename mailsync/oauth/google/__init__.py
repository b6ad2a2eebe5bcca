"""django-allauth's Google provider for mailboxes: its endpoints from the settings."""
