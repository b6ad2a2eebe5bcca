"""Syncing a mailbox: claim it, read Inbox and Sent read-only, hand batches to the pipeline."""
