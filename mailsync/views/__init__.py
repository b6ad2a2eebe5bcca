"""The reps' mail pages: mailbox settings, messages and threads, candidates and the block list."""
