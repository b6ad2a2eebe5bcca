"""Protocol shells: TLS, host checks, IMAP (read-only), SMTP. No ORM; of ours, only errors."""
