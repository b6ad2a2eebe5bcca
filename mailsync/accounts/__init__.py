"""A rep's mailbox: connecting it, its settings, the provider presets, the connection form."""
