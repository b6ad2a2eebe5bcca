"""Writes of a rep's mailbox: connecting it (after the staged test), disconnecting, enabling,
sharing. Operators' actions (disable, resync from scratch) go through here too.
"""

import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from mailsync.models import (
    MailAccount,
)
from mailsync.oauth.grants import grant_revoke, grant_save, token_source
from mailsync.oauth.providers import oauth_provider
from mailsync.transport.credentials import (
    Credentials,
    Password,
    TokenSource,
    XOAuth2,
    credentials_or_password,
)
from mailsync.transport.imap import Server, check_imap
from mailsync.transport.oauth import TokenResponse
from mailsync.transport.smtp import check_smtp
from mailsync.transport.stages import StageResult

log = logging.getLogger(__name__)


@dataclass(init=False)
class ConnectionSettings:
    """What connecting a mailbox takes: its address, how to sign in, both servers, the history
    to sync and a pinned certificate. `login=` and `password=` are a shorthand for
    `credentials=Password(login, password)`."""

    email: str
    credentials: Credentials
    imap: Server
    smtp: Server
    history_days: int = 90
    pin: str = ""

    def __init__(
        self,
        *,
        email: str,
        imap: Server,
        smtp: Server,
        credentials: Credentials | None = None,
        login: str | None = None,
        password: str | None = None,
        history_days: int = 90,
        pin: str = "",
    ):
        self.email = email
        self.credentials = credentials_or_password(credentials, login=login, password=password)
        self.imap, self.smtp = imap, smtp
        self.history_days = history_days
        self.pin = pin

    @property
    def login(self) -> str:
        return self.credentials.login

    @classmethod
    def from_account(
        cls, account: MailAccount, *, token: TokenSource | None = None
    ) -> "ConnectionSettings":
        """The saved settings of an account, for testing its connection again."""
        return cls(
            email=account.email,
            credentials=account_credentials(account, token=token),
            imap=Server(account.imap_host, account.imap_port, account.imap_security),
            smtp=Server(account.smtp_host, account.smtp_port, account.smtp_security),
            history_days=account.history_days,
            pin=account.tls_pin_sha256,
        )


def account_credentials(account: MailAccount, *, token: TokenSource | None = None) -> Credentials:
    """How the account signs in: its password, or for a Google or Microsoft 365 account an
    XOAUTH2 token from `token`, a callable asked for a fresh access token at each sign-in; by
    default the account's own grant (mailsync.oauth.grants), which refreshes the token when it
    is about to expire and once more when a server refuses it."""
    if account.auth == MailAccount.Auth.PASSWORD:
        return Password(account.login, account.secret)
    if token is not None:
        current, renew = token, None
    else:
        current, renew = token_source(account)
    return XOAuth2(
        account.login, current, provider=account.auth, secret=account.secret, renew=renew
    )


def connection_check(conn: ConnectionSettings):
    """The staged test: IMAP stages, then SMTP stages; stops at the first failure."""
    timeout = settings.MAILSYNC_TIMEOUT
    failed = False
    for result in check_imap(
        conn.imap, credentials=conn.credentials, pin=conn.pin, timeout=timeout
    ):
        failed = failed or not result.ok
        yield result
    if failed:
        return
    yield from check_smtp(conn.smtp, credentials=conn.credentials, pin=conn.pin, timeout=timeout)


def account_connect(
    *, user, conn: ConnectionSettings
) -> tuple[MailAccount | None, list[StageResult]]:
    """Run the staged test and, only if every stage passed, save the account (one per rep)."""
    results = list(connection_check(conn))
    if not results or not all(r.ok for r in results):
        return None, results
    return account_save(user=user, conn=conn), results


def account_save(*, user, conn: ConnectionSettings) -> MailAccount:
    """Save the rep's account from settings that have just passed the staged test (callers run
    `connection_check` first: account_connect does, and the mailbox page streams it)."""
    with transaction.atomic():
        account = MailAccount.objects.select_for_update().filter(user=user).first() or MailAccount(
            user=user
        )
        changed_mailbox = account.pk is not None and (
            account.email != conn.email.lower() or account.imap_host != conn.imap.host
        )
        account.email = conn.email.strip().lower()
        # Whatever the credentials' kind: the sign-in method and what it needs again later.
        account.auth = conn.credentials.auth
        account.login = conn.login
        account.imap_host, account.imap_port, account.imap_security = (
            conn.imap.host,
            conn.imap.port,
            conn.imap.security,
        )
        account.smtp_host, account.smtp_port, account.smtp_security = (
            conn.smtp.host,
            conn.smtp.port,
            conn.smtp.security,
        )
        account.secret = conn.credentials.secret
        account.history_days = conn.history_days
        if conn.pin:
            account.tls_pin_sha256 = conn.pin
        account.status = MailAccount.Status.CONNECTED
        clear_error(account)
        account.next_sync_at = timezone.now()
        account.full_clean(exclude=["user"])
        account.save()
        if changed_mailbox:
            # Another mailbox: its folders start from scratch. Mail already stored stays.
            account.folders.all().delete()
        transaction.on_commit(lambda: enqueue_sync(account.pk))
    return account


def account_disconnect(*, account: MailAccount) -> None:
    """Forget the secrets and stop syncing; a Google grant is revoked at Google too (Microsoft
    has no such endpoint: the rep removes the app in their account). Mail already in the CRM
    stays."""
    if account.auth != MailAccount.Auth.PASSWORD:
        grant_revoke(account=account)
    account.secret_ciphertext = ""
    account.status = MailAccount.Status.DISCONNECTED
    account.next_sync_at = None
    clear_error(account)
    account.save()


def account_request_sync(*, account: MailAccount) -> None:
    """ "Sync now": due immediately, and a job queued for it."""
    MailAccount.objects.filter(pk=account.pk).update(next_sync_at=timezone.now())
    transaction.on_commit(lambda: enqueue_sync(account.pk))


def account_resync_from_scratch(*, account: MailAccount) -> None:
    """Read every synced folder again from the start (operators). Messages are stored by
    Message-ID or content, so nothing already in the CRM is stored twice."""
    with transaction.atomic():
        account.folders.update(uidvalidity=None, last_uid=0)
        account_request_sync(account=account)


def account_disable(*, account: MailAccount) -> None:
    """Stop syncing the account (operators) until it is enabled again; nothing is deleted."""
    account.status = MailAccount.Status.DISABLED
    account.next_sync_at = None
    account.save(update_fields=["status", "next_sync_at", "updated_at"])


def account_enable(*, account: MailAccount) -> bool:
    """Undo account_disable: sync again now. An account without a password (disconnected) cannot
    be enabled: its rep must connect it again. Returns whether it was enabled."""
    if not account.secret_ciphertext:
        return False
    account.status = MailAccount.Status.CONNECTED
    account.failures = 0
    account.save(update_fields=["status", "failures", "updated_at"])
    account_request_sync(account=account)
    return True


def enqueue_sync(account_id: int) -> None:
    from django_q.tasks import async_task

    async_task("mailsync.tasks.sync_account", account_id, task_name=f"sync-account-{account_id}")


def clear_error(account: MailAccount) -> None:
    account.error_code = ""
    account.error_detail = ""
    account.error_stage = ""
    account.error_since = None
    account.failures = 0


def account_set_sharing(*, account: MailAccount, sharing: str) -> MailAccount:
    """What the rep's teammates see of the mail from this mailbox on the CRM's records."""
    if sharing not in MailAccount.Sharing.values:
        raise ValueError(f"unknown sharing: {sharing!r}")
    account.sharing = sharing
    account.save(update_fields=["sharing", "updated_at"])
    return account


class OtherMailbox(Exception):
    """The rep consented as another address than the mailbox already linked."""

    def __init__(self, linked: str, offered: str):
        super().__init__(f"{offered} is not the linked mailbox {linked}")
        self.linked, self.offered = linked, offered


def oauth_account_connect(
    *, user, provider: str, email: str, subject: str, tokens: TokenResponse, history_days: int
) -> tuple[MailAccount | None, list[StageResult]]:
    """A rep consented at Google or Microsoft as `email` (the address the provider vouches
    for): run the staged test over XOAUTH2 with the token just given and, if every stage
    passed, save the account and its grant together. Reconnecting the same mailbox keeps its
    folders' positions, so the sync resumes where it was; another address while a mailbox is
    linked raises OtherMailbox (disconnect first)."""
    linked = MailAccount.objects.filter(user=user).first()
    if linked is not None and linked.is_active and linked.email != email.lower():
        raise OtherMailbox(linked.email, email.lower())
    servers = oauth_provider(provider)
    conn = ConnectionSettings(
        email=email,
        credentials=XOAuth2(
            email, lambda: tokens.access_token, provider=provider, secret=tokens.refresh_token
        ),
        imap=servers.imap,
        smtp=servers.smtp,
        history_days=history_days,
    )
    results = list(connection_check(conn))
    if not results or not all(r.ok for r in results):
        return None, results
    with transaction.atomic():
        account = account_save(user=user, conn=conn)
        grant_save(account=account, tokens=tokens, subject=subject)
        account.save(update_fields=["secret_ciphertext", "updated_at"])
    return account, results
