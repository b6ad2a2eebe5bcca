"""Which records a message belongs to: matching (pure), the links, removals and the block list."""
