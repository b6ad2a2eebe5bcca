from secrets import token_hex

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from crm.models import RecordRef
from mailsync import secrets
from mailsync.errors import BLOCKED, validate_code


def encrypted(field: str) -> property:
    """A secret kept in the text field `field` encrypted (mailsync.secrets), read and written in
    clear through this property; a property, so that Model(name=...) accepts it too."""

    def read(instance) -> str:
        return secrets.decrypt(getattr(instance, field))

    def write(instance, value: str) -> None:
        setattr(instance, field, secrets.encrypt(value))

    return property(read, write)


class MailAccount(models.Model):
    """The one mailbox a rep links. How it signs in is one field (`auth`), not a code path."""

    class Auth(models.TextChoices):
        PASSWORD = "password", _("Password")
        GOOGLE = "google", _("Google")
        MICROSOFT = "microsoft", _("Microsoft 365")

    class Security(models.TextChoices):
        SSL = "ssl", _("SSL/TLS")
        STARTTLS = "starttls", _("STARTTLS")

    class Status(models.TextChoices):
        CONNECTED = "connected", _("Connected")
        SYNCING = "syncing", _("Syncing")
        ERROR = "error", _("Error")
        DISABLED = "disabled", _("Disabled")
        DISCONNECTED = "disconnected", _("Disconnected")

    HISTORY_CHOICES = [
        (0, _("None: only new mail")),
        (30, _("1 month")),
        (90, _("3 months")),
        (180, _("6 months")),
        (365, _("12 months")),
    ]

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        on_delete=models.PROTECT,
        related_name="mail_account",
    )
    email = models.EmailField(_("email address"), db_index=True)
    auth = models.CharField(
        _("sign-in"), max_length=20, choices=Auth.choices, default=Auth.PASSWORD
    )
    login = models.CharField(_("user name"), max_length=254)
    imap_host = models.CharField(_("IMAP server"), max_length=253)
    imap_port = models.PositiveIntegerField(_("IMAP port"), default=993)
    imap_security = models.CharField(
        _("IMAP security"), max_length=10, choices=Security.choices, default=Security.SSL
    )
    smtp_host = models.CharField(_("SMTP server"), max_length=253)
    smtp_port = models.PositiveIntegerField(_("SMTP port"), default=465)
    smtp_security = models.CharField(
        _("SMTP security"), max_length=10, choices=Security.choices, default=Security.SSL
    )
    secret_ciphertext = models.TextField(_("secret (encrypted)"), blank=True, editable=False)
    tls_pin_sha256 = models.CharField(
        _("pinned certificate (SHA-256)"),
        max_length=95,
        blank=True,
        help_text=_(
            "Trust exactly this server certificate, by the SHA-256 fingerprint of its DER form "
            "(hex, colons allowed). Only for a server whose certificate no authority vouches for."
        ),
    )
    history_days = models.PositiveSmallIntegerField(
        _("history to sync"), choices=HISTORY_CHOICES, default=90
    )

    class Sharing(models.TextChoices):
        PRIVATE = "private", _("Private: only me")
        METADATA = "metadata", _("Metadata: who and when")
        SUBJECT = "subject", _("Subject: who, when and the subject")
        FULL = "full", _("Full: the whole message")

    sharing = models.CharField(
        _("shared with my team"),
        max_length=10,
        choices=Sharing.choices,
        default=Sharing.FULL,
        help_text=_("What teammates see of the mail from this mailbox on the CRM's records."),
    )
    sent_folder_name = models.CharField(_("Sent folder"), max_length=255, blank=True)

    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.CONNECTED, db_index=True
    )
    error_code = models.CharField(_("error"), max_length=40, validators=[validate_code], blank=True)
    error_detail = models.TextField(_("server's words"), blank=True)
    error_stage = models.CharField(_("stage"), max_length=40, blank=True)
    error_since = models.DateTimeField(_("failing since"), null=True, blank=True)
    failures = models.PositiveIntegerField(_("consecutive failures"), default=0)

    last_sync_at = models.DateTimeField(_("last sync"), null=True, blank=True)
    last_success_at = models.DateTimeField(_("last successful sync"), null=True, blank=True)
    next_sync_at = models.DateTimeField(_("next sync"), null=True, blank=True, db_index=True)
    # The claim that keeps two workers from syncing one account at once (see services).
    sync_claimed_at = models.DateTimeField(null=True, blank=True, editable=False)
    sync_claim = models.CharField(max_length=40, blank=True, editable=False)

    created_at = models.DateTimeField(_("connected"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("mail account")
        verbose_name_plural = _("mail accounts")

    def __str__(self):
        return self.email

    # The password, or a Google or Microsoft account's refresh token.
    secret = encrypted("secret_ciphertext")

    @property
    def is_active(self) -> bool:
        return self.status not in (self.Status.DISABLED, self.Status.DISCONNECTED)


class OAuthGrant(models.Model):
    """What a Google or Microsoft 365 mailbox signs in with, besides its refresh token (the
    account's secret): the current access token, encrypted like every secret, and when it
    expires. `mailsync.oauth` refreshes it; nothing else writes it."""

    account = models.OneToOneField(
        MailAccount, on_delete=models.CASCADE, related_name="oauth_grant"
    )
    subject = models.CharField(_("provider's user id"), max_length=255, blank=True)
    scope = models.TextField(_("granted scopes"), blank=True)
    access_token_ciphertext = models.TextField(blank=True, editable=False)
    access_expires_at = models.DateTimeField(_("access token expires"), null=True, blank=True)
    refreshed_at = models.DateTimeField(_("last refreshed"), null=True, blank=True)
    # The provider stopped honouring the grant (invalid_grant): the rep must connect again; the
    # rep is told once by email (notified_at).
    dead_at = models.DateTimeField(_("grant ended"), null=True, blank=True)
    dead_notified_at = models.DateTimeField(null=True, blank=True, editable=False)
    # When the refresh token itself ends, where the provider says (Google's apps in "Testing"
    # status: 7 days after consent); and when the rep was warned of an end coming.
    refresh_expires_at = models.DateTimeField(_("grant expires"), null=True, blank=True)
    expiry_warned_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("OAuth grant")
        verbose_name_plural = _("OAuth grants")

    def __str__(self):
        return f"{self.account.email} ({self.account.auth})"

    access_token = encrypted("access_token_ciphertext")


class MailFolder(models.Model):
    """A synced folder: where the sync has got to, by UIDVALIDITY and the last UID seen."""

    class Role(models.TextChoices):
        INBOX = "inbox", _("Inbox")
        SENT = "sent", _("Sent")

    account = models.ForeignKey(MailAccount, on_delete=models.CASCADE, related_name="folders")
    role = models.CharField(_("role"), max_length=10, choices=Role.choices)
    name = models.CharField(_("name on the server"), max_length=255)
    uidvalidity = models.BigIntegerField(_("UIDVALIDITY"), null=True, blank=True)
    last_uid = models.BigIntegerField(_("last UID"), default=0)
    last_synced_at = models.DateTimeField(_("last synced"), null=True, blank=True)
    # How far back the folder has been read (by arrival date): widening the history reads the
    # older mail once, and the mail older than this is counted, so a rep can be told it is not
    # in the CRM because of the window (`before_sync_window`).
    covered_since = models.DateField(_("synced since"), null=True, blank=True)
    before_window = models.PositiveIntegerField(_("older than the history"), default=0)

    class Meta:
        verbose_name = _("mail folder")
        verbose_name_plural = _("mail folders")
        constraints = [
            models.UniqueConstraint(fields=["account", "role"], name="one_folder_per_role")
        ]

    def __str__(self):
        return f"{self.account} {self.name}"


class Thread(models.Model):
    class Visibility(models.TextChoices):
        MAILBOX = "", _("As the mailbox is shared")
        PRIVATE = "private", _("Private")
        SHARED = "shared", _("Shared in full")

    subject = models.TextField(_("subject"), blank=True)
    subject_key = models.CharField(max_length=255, blank=True, db_index=True)
    visibility = models.CharField(
        _("visibility"), max_length=10, choices=Visibility.choices, blank=True, default=""
    )
    last_message_at = models.DateTimeField(null=True, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("thread")
        verbose_name_plural = _("threads")

    def __str__(self):
        return self.subject or f"#{self.pk}"


class Message(models.Model):
    """One stored message, however many places it was seen in (see Sighting).

    `key` is "mid:<Message-ID>" or, for messages without one, "sha256:<content hash>".
    """

    key = models.CharField(max_length=300, unique=True)
    message_id = models.TextField(_("Message-ID"), blank=True)
    thread = models.ForeignKey(
        Thread, null=True, blank=True, on_delete=models.SET_NULL, related_name="messages"
    )
    subject = models.TextField(_("subject"), blank=True)
    date = models.DateTimeField(_("date"), null=True, blank=True, db_index=True)
    from_address = models.CharField(_("from"), max_length=254, blank=True, db_index=True)
    from_name = models.CharField(_("from (name)"), max_length=300, blank=True)
    in_reply_to = models.JSONField(default=list, blank=True)
    references = models.JSONField(default=list, blank=True)
    text = models.TextField(blank=True)
    html = models.TextField(blank=True)
    snippet = models.CharField(max_length=300, blank=True)
    size = models.PositiveIntegerField(default=0)
    recipient_count = models.PositiveIntegerField(default=0)
    # Kept as headers only (too many recipients, too large, unparseable): the code says why.
    headers_only = models.BooleanField(default=False)
    skip_code = models.CharField(max_length=40, validators=[validate_code], blank=True)
    parse_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        indexes = [models.Index(fields=["message_id"], name="message_mid_idx")]

    def __str__(self):
        return self.subject or self.key


class MessageRaw(models.Model):
    """The message as received, gzip-compressed: it can be re-parsed and downloaded, never lost."""

    message = models.OneToOneField(
        Message, primary_key=True, on_delete=models.CASCADE, related_name="raw"
    )
    data = models.BinaryField()
    size = models.PositiveIntegerField()

    def __str__(self):
        return f"raw #{self.pk} ({self.size} bytes)"


class Participant(models.Model):
    class Role(models.TextChoices):
        FROM = "from", _("From")
        SENDER = "sender", _("Sender")
        REPLY_TO = "reply_to", _("Reply-To")
        TO = "to", _("To")
        CC = "cc", _("Cc")
        BCC = "bcc", _("Bcc")

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="participants")
    role = models.CharField(max_length=10, choices=Role.choices)
    address = models.CharField(max_length=254, db_index=True)
    name = models.CharField(max_length=300, blank=True)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position"]

    def __str__(self):
        return f"{self.role}: {self.address}"


class Source(models.TextChoices):
    """The route a message came in by (`mailsync.ingest.envelopes` has one source per route)."""

    IMAP = "imap", _("Mailbox folder")
    INBOUND = "inbound", _("BCC address")
    OUTBOX = "outbox", _("Sent from the CRM")


class SourceFields(models.Model):
    """Where a message came in, by route: an IMAP folder (the model's folder, uidvalidity and uid),
    an inbound address (the address it was sent to, the route such as an ESP's webhook or the
    pipe, and the ESP's id of the message), or the CRM's outbox (the outgoing message).

    The models using it declare folder, uidvalidity and uid themselves (their foreign keys differ).
    """

    source = models.CharField(_("source"), max_length=10, choices=Source.choices)
    inbound_address = models.CharField(max_length=254, blank=True)
    inbound_route = models.CharField(max_length=40, blank=True)
    route_message_id = models.CharField(max_length=255, blank=True)
    # The outgoing message once sending from the CRM exists (then a foreign key).
    outgoing_id = models.BigIntegerField(null=True, blank=True)

    SOURCE_FIELDS = (
        "source",
        "folder_id",
        "uidvalidity",
        "uid",
        "inbound_address",
        "inbound_route",
        "route_message_id",
        "outgoing_id",
    )

    class Meta:
        abstract = True

    def source_fields(self) -> dict:
        """The source as field values, to record the same place on another row (the ledger)."""
        return {name: getattr(self, name) for name in self.SOURCE_FIELDS}

    @classmethod
    def unique_per_source(cls, prefix: str, *extra: str) -> list[models.UniqueConstraint]:
        """One row per place a message came in (plus `extra` fields), for every route."""
        return [
            models.UniqueConstraint(
                fields=["folder", "uidvalidity", "uid", *extra],
                condition=Q(folder__isnull=False),
                name=f"{prefix}_uid" if not extra else f"{prefix}_uid_and_{'_'.join(extra)}",
            ),
            models.UniqueConstraint(
                fields=["account", "inbound_route", "route_message_id", *extra],
                condition=Q(source=Source.INBOUND) & ~Q(route_message_id=""),
                name=f"{prefix}_route_message",
            ),
            models.UniqueConstraint(
                fields=["account", "outgoing_id", *extra],
                condition=Q(source=Source.OUTBOX),
                name=f"{prefix}_outgoing",
            ),
        ]


class Sighting(SourceFields):
    """A place a message was seen: an account's folder at a UID under a UIDVALIDITY, an inbound
    address, or the outbox."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="sightings")
    account = models.ForeignKey(
        MailAccount, null=True, on_delete=models.SET_NULL, related_name="sightings"
    )
    folder = models.ForeignKey(
        MailFolder, null=True, on_delete=models.SET_NULL, related_name="sightings"
    )
    uidvalidity = models.BigIntegerField(null=True)
    uid = models.BigIntegerField(null=True)
    seen_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            *SourceFields.unique_per_source("one_sighting_per"),
            models.CheckConstraint(
                condition=Q(source=Source.IMAP, uid__isnull=False)
                | (Q(source=Source.INBOUND) & ~Q(inbound_route=""))
                | Q(source=Source.OUTBOX, outgoing_id__isnull=False),
                name="sighting_has_its_source",
            ),
        ]

    def __str__(self):
        if self.source == Source.INBOUND:
            return f"{self.inbound_address} via {self.inbound_route}"
        if self.source == Source.OUTBOX:
            return f"outbox {self.outgoing_id}"
        return f"{self.folder} UID {self.uid}"


def attachment_path(instance, filename):
    """A random name under MEDIA_ROOT, spread over 256 folders, with nothing of the message or
    of the sender's file name in it: the name can be neither guessed nor used to guess, and a
    hostile file name ("../x", "invoice.html") never reaches the disk. The real name is in
    `Attachment.filename`, which the download view sends."""
    token = token_hex(20)
    return f"attachments/{token[:2]}/{token}"


class Attachment(models.Model):
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="attachments")
    filename = models.CharField(max_length=255)
    content_type = models.CharField(max_length=255)
    content_id = models.CharField(max_length=255, blank=True)
    inline = models.BooleanField(default=False)
    size = models.PositiveIntegerField()
    file = models.FileField(upload_to=attachment_path, max_length=400, blank=True)
    # Not stored (over MAILSYNC_MAX_ATTACHMENT_BYTES): the raw message still has it.
    omitted = models.BooleanField(default=False)

    def __str__(self):
        return self.filename


class SkipEntry(SourceFields):
    """The skip ledger: a message the sync did not import in full, and why (an ERRORS.md code).

    Kept with the message's headers so that a rep asking "why is this email not here?" gets an
    answer, even when nothing else of the message was stored.
    """

    account = models.ForeignKey(MailAccount, on_delete=models.CASCADE, related_name="skips")
    folder = models.ForeignKey(MailFolder, null=True, on_delete=models.SET_NULL, related_name="+")
    uidvalidity = models.BigIntegerField(null=True)
    uid = models.BigIntegerField(null=True)
    message = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="skips"
    )
    code = models.CharField(_("code"), max_length=40, validators=[validate_code], db_index=True)
    detail = models.TextField(_("detail"), blank=True)
    header_message_id = models.TextField(_("Message-ID"), blank=True)
    subject = models.TextField(blank=True)
    from_address = models.CharField(max_length=254, blank=True)
    date = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("skipped message")
        verbose_name_plural = _("skipped messages")
        ordering = ["-created_at"]
        constraints = [
            *SourceFields.unique_per_source("one_skip_per", "code"),
            # bulk_create skips validation: a row must still say which route its message took.
            models.CheckConstraint(
                condition=Q(source__in=Source.values), name="skipentry_has_a_source"
            ),
        ]

    def __str__(self):
        return f"{self.code}: {self.subject or self.header_message_id}"

    @classmethod
    def entry(cls, *, account, code: str, detail: str = "", message=None, parsed=None, **source):
        """The one way a ledger row is built (unsaved). What the rep is told comes from the
        stored `message`, or from the `parsed` headers of one that is not stored; `source`
        names where the message came in (`SourceFields`). Mail caught by the block list keeps
        no subject: a rep blocks personal mail to keep it out of the CRM."""
        if message is not None:
            message_id, subject = message.message_id, message.subject
            from_address, date = message.from_address, message.date
        elif parsed is not None:
            message_id, subject = parsed.message_id, parsed.subject
            from_address = parsed.from_[0].address if parsed.from_ else ""
            date = parsed.date
        else:
            message_id = subject = from_address = ""
            date = None
        return cls(
            account=account,
            code=code,
            detail=detail[:2000],
            message=message,
            header_message_id=(message_id or "")[:998],
            subject="" if code == BLOCKED else (subject or "")[:2000],
            from_address=(from_address or "")[:254],
            date=date,
            **source,
        )


class SyncRun(models.Model):
    class Outcome(models.TextChoices):
        RUNNING = "running", _("Running")
        OK = "ok", _("OK")
        ERROR = "error", _("Error")
        # The worker stopped before the run ended (killed, machine lost): another took over.
        INTERRUPTED = "interrupted", _("Interrupted")

    account = models.ForeignKey(MailAccount, on_delete=models.CASCADE, related_name="runs")
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=20, choices=Outcome.choices, default=Outcome.RUNNING)
    imported = models.PositiveIntegerField(default=0)
    duplicates = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    error_code = models.CharField(max_length=40, validators=[validate_code], blank=True)
    error_detail = models.TextField(blank=True)
    # Which process ran it ("host:pid"), so that an operator can tell a stuck run from a dead one.
    worker = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self):
        return f"{self.account} {self.started_at:%Y-%m-%d %H:%M} {self.outcome}"


class RecordLinkBase(RecordRef):
    """Points at exactly one lead, contact, company or deal (`RecordRef.exactly_one_record`)."""

    # The order migration 0003 wrote these models' constraints in (see RecordRef.RECORD_FIELDS).
    RECORD_FIELDS = ("lead", "contact", "company", "deal")

    class Meta:
        abstract = True


class MessageLink(RecordLinkBase):
    """A message on a record, with how the link was made and by whom ("why is this email here?")."""

    class Origin(models.TextChoices):
        ADDRESS = "address", _("a participant's email address")
        DOMAIN = "domain", _("the company's web domain")
        THREAD = "thread", _("an earlier message of the thread")
        DEAL = "deal", _("the contact's only open deal")
        CHOSEN = "chosen", _("a rep chose the deal for the thread")
        BCC = "bcc", _("the BCC address")
        MANUAL = "manual", _("added by hand")

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="links")
    origin = models.CharField(_("how"), max_length=10, choices=Origin.choices)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("message link")
        verbose_name_plural = _("message links")
        constraints = [
            RecordLinkBase.exactly_one_record("message_link_one_record"),
            *RecordLinkBase.unique_per_record("message_link_unique", "message"),
        ]

    def __str__(self):
        return f"{self.message_id} -> {self.record}"


class LinkRemoval(RecordLinkBase):
    """A rep took a thread off a record. Later messages of the thread are not linked to it
    again, however they match; adding the link back by hand deletes this row."""

    thread = models.ForeignKey(Thread, on_delete=models.CASCADE, related_name="removals")
    # Set: only this message is kept off the record; empty: the whole thread, replies included.
    message = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.CASCADE, related_name="removals"
    )
    removed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    removed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("removed link")
        verbose_name_plural = _("removed links")
        constraints = [
            RecordLinkBase.exactly_one_record("link_removal_one_record"),
            *(
                models.UniqueConstraint(
                    fields=["thread", record],
                    condition=Q(**{f"{record}__isnull": False, "message__isnull": True}),
                    name=f"link_removal_unique_{record}",
                )
                for record in RecordLinkBase.RECORD_FIELDS
            ),
            *RecordLinkBase.unique_per_record("link_removal_message_unique", "message"),
        ]

    def __str__(self):
        return f"thread {self.thread_id} off {self.record}"


class ThreadDealChoice(models.Model):
    """A thread whose contacts have several open deals: it waits for a rep to choose one, and
    the choice then holds for the whole thread, past messages and future ones."""

    thread = models.OneToOneField(Thread, on_delete=models.CASCADE, related_name="deal_choice")
    candidates = models.JSONField(default=list)  # ids of the open deals to choose from
    deal = models.ForeignKey(
        "crm.Deal", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    chosen_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    chosen_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("deal to choose")
        verbose_name_plural = _("deals to choose")

    def __str__(self):
        return f"thread {self.thread_id}: {self.deal_id or self.candidates}"


class BlockEntry(models.Model):
    """A rep's block list: an address (`spam@example.com`) or a whole domain (`example.com`).
    Mail any of whose participants matches is not put on records; the ledger says `blocked`."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        on_delete=models.CASCADE,
        related_name="block_entries",
    )
    value = models.CharField(_("address or domain"), max_length=254)
    created_at = models.DateTimeField(_("added"), auto_now_add=True)

    class Meta:
        verbose_name = _("blocked address")
        verbose_name_plural = _("blocked addresses")
        ordering = ["value"]
        constraints = [
            models.UniqueConstraint(fields=["user", "value"], name="one_block_entry_per_value")
        ]

    def __str__(self):
        return self.value

    @property
    def is_domain(self) -> bool:
        return "@" not in self.value


class InboundAddress(models.Model):
    """A private address on the installation's inbound domain (MAILSYNC_BCC_DOMAIN): a rep's BCC
    address, or a deal's. Mail sent to it is stored and linked like synced mail (to the deal
    straight away, for a deal's). The local part is random (96 bits), never derived from a name;
    rotating retires an address at once and issues a new one."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="inbound_addresses",
    )
    deal = models.ForeignKey(
        "crm.Deal",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="inbound_addresses",
    )
    local_part = models.CharField(_("local part"), max_length=64, unique=True)
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    retired_at = models.DateTimeField(_("retired"), null=True, blank=True)

    class Meta:
        verbose_name = _("BCC address")
        verbose_name_plural = _("BCC addresses")
        constraints = [
            models.CheckConstraint(
                condition=Q(user__isnull=False, deal__isnull=True)
                | Q(user__isnull=True, deal__isnull=False),
                name="inbound_address_is_a_reps_or_a_deals",
            ),
            models.UniqueConstraint(
                fields=["user"], condition=Q(active=True), name="one_active_bcc_address_per_rep"
            ),
            models.UniqueConstraint(
                fields=["deal"], condition=Q(active=True), name="one_active_address_per_deal"
            ),
        ]

    def __str__(self):
        return self.address

    @property
    def address(self) -> str:
        return f"{self.local_part}@{settings.MAILSYNC_BCC_DOMAIN}"
