"""Raw RFC 822 bytes -> ParsedMessage. Pure: no database, no network, nothing of ours but errors."""
