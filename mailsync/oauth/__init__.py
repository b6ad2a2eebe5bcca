"""Google and Microsoft 365 mailboxes: the providers' endpoints and mail servers (providers), and
the grant a rep gave the CRM (grants: stored encrypted, access tokens refreshed before they
expire, a grant the provider ended marked so). The sign-in itself is the transport's XOAUTH2."""
