"""The one pipeline every route feeds: parse, limits, store once per key, thread, ledger, link."""
