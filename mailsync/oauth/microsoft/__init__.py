"""django-allauth's Microsoft provider for Microsoft 365 mailboxes: endpoints from the settings,
and the person's identity from a token for the userinfo endpoint (the mail token is for the
mail servers only: Microsoft mints one token per resource)."""
