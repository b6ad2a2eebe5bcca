"""The BCC route: each rep's (and each deal's) private address on the inbound domain, and, as
they arrive, the receivers (anymail's inbound webhooks, the `mail_inbound` pipe) that hand the
mail to the one ingest pipeline."""
