import secrets
from decimal import Decimal

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

MANAGER_GROUP = "Managers"
REP_GROUP = "Reps"


class Team(models.Model):
    name = models.CharField(_("name"), max_length=100, unique=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("team")
        verbose_name_plural = _("teams")

    def __str__(self):
        return self.name


class User(AbstractUser):
    """A rep, a manager (the "Managers" group) or an operator (staff, in the admin)."""

    team = models.ForeignKey(
        Team,
        verbose_name=_("team"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="members",
    )

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        ordering = ["first_name", "last_name", "username"]

    def __str__(self):
        return self.get_full_name() or self.email or self.username

    @property
    def is_manager(self) -> bool:
        if not hasattr(self, "_is_manager"):
            self._is_manager = self.groups.filter(name=MANAGER_GROUP).exists()
        return self._is_manager


class OwnedRecord(models.Model):
    """Fields every CRM record has. Deleting a user never deletes records: reassign them first."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        abstract = True

    @property
    def kind(self) -> str:
        return self._meta.model_name


class Company(OwnedRecord):
    name = models.CharField(_("name"), max_length=200)
    phone = models.CharField(_("phone"), max_length=40, blank=True)
    industry = models.CharField(_("industry"), max_length=100, blank=True)
    address = models.TextField(_("address"), blank=True)
    description = models.TextField(_("description"), blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("company")
        verbose_name_plural = _("companies")
        indexes = [models.Index(fields=["name"])]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("crm:company_detail", args=[self.pk])


class CompanyDomain(models.Model):
    """A web domain of a company, normalised (`acme.com`); mail from that domain concerns it."""

    company = models.ForeignKey(
        Company, verbose_name=_("company"), on_delete=models.CASCADE, related_name="domains"
    )
    domain = models.CharField(_("domain"), max_length=253, db_index=True)

    class Meta:
        ordering = ["domain"]
        verbose_name = _("company domain")
        verbose_name_plural = _("company domains")
        constraints = [
            models.UniqueConstraint(fields=["company", "domain"], name="company_domain_unique")
        ]

    def __str__(self):
        return self.domain


class Contact(OwnedRecord):
    first_name = models.CharField(_("first name"), max_length=100, blank=True)
    last_name = models.CharField(_("last name"), max_length=100, blank=True)
    title = models.CharField(_("job title"), max_length=150, blank=True)
    company = models.ForeignKey(
        Company,
        verbose_name=_("company"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="contacts",
    )
    description = models.TextField(_("description"), blank=True)

    class Meta:
        ordering = ["last_name", "first_name"]
        verbose_name = _("contact")
        verbose_name_plural = _("contacts")
        indexes = [models.Index(fields=["last_name", "first_name"])]

    def __str__(self):
        return self.name

    @property
    def name(self) -> str:
        full = f"{self.first_name} {self.last_name}".strip()
        if full:
            return full
        first = next(iter(self.emails.all()), None) if self.pk else None
        return first.address if first else str(_("(no name)"))

    def get_absolute_url(self):
        return reverse("crm:contact_detail", args=[self.pk])


class Lead(OwnedRecord):
    class Status(models.TextChoices):
        NEW = "new", pgettext_lazy("lead status", "New")
        CONTACTED = "contacted", pgettext_lazy("lead status", "Contacted")
        QUALIFIED = "qualified", pgettext_lazy("lead status", "Qualified")
        UNQUALIFIED = "unqualified", pgettext_lazy("lead status", "Unqualified")
        CONVERTED = "converted", pgettext_lazy("lead status", "Converted")

    class Source(models.TextChoices):
        WEB = "web", _("Website")
        REFERRAL = "referral", _("Referral")
        EVENT = "event", _("Event")
        OUTBOUND = "outbound", _("Outbound")
        PARTNER = "partner", _("Partner")
        IMPORT = "import", pgettext_lazy("lead source", "Import")
        OTHER = "other", _("Other")

    first_name = models.CharField(_("first name"), max_length=100, blank=True)
    last_name = models.CharField(_("last name"), max_length=100, blank=True)
    company_name = models.CharField(_("company"), max_length=200, blank=True)
    title = models.CharField(_("job title"), max_length=150, blank=True)
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.NEW, db_index=True
    )
    source = models.CharField(_("source"), max_length=20, choices=Source.choices, blank=True)
    description = models.TextField(_("description"), blank=True)
    converted_at = models.DateTimeField(_("converted"), null=True, blank=True)
    converted_contact = models.ForeignKey(
        "Contact",
        verbose_name=_("converted to contact"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    converted_deal = models.ForeignKey(
        "Deal",
        verbose_name=_("converted to deal"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("lead")
        verbose_name_plural = _("leads")

    def __str__(self):
        return self.name

    @property
    def name(self) -> str:
        full = f"{self.first_name} {self.last_name}".strip()
        if full:
            return full
        if self.company_name:
            return self.company_name
        first = next(iter(self.emails.all()), None) if self.pk else None
        return first.address if first else str(_("(no name)"))

    @property
    def is_converted(self) -> bool:
        return self.status == self.Status.CONVERTED

    def get_absolute_url(self):
        return reverse("crm:lead_detail", args=[self.pk])


class EmailAddress(models.Model):
    """An address of a contact or a lead, stored normalised (lower-case, trimmed).

    One table for both kinds so that a set of addresses from a message finds every record it
    concerns with one indexed query. The same address on two records is allowed (and shown).
    """

    address = models.CharField(_("email address"), max_length=254, db_index=True)
    contact = models.ForeignKey(
        Contact, null=True, blank=True, on_delete=models.CASCADE, related_name="emails"
    )
    lead = models.ForeignKey(
        Lead, null=True, blank=True, on_delete=models.CASCADE, related_name="emails"
    )
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]
        verbose_name = _("email address")
        verbose_name_plural = _("email addresses")
        constraints = [
            models.CheckConstraint(
                condition=Q(contact__isnull=False, lead__isnull=True)
                | Q(contact__isnull=True, lead__isnull=False),
                name="email_belongs_to_one_record",
            ),
            models.UniqueConstraint(
                fields=["contact", "address"],
                condition=Q(contact__isnull=False),
                name="email_unique_per_contact",
            ),
            models.UniqueConstraint(
                fields=["lead", "address"],
                condition=Q(lead__isnull=False),
                name="email_unique_per_lead",
            ),
        ]

    def __str__(self):
        return self.address

    @property
    def record(self):
        return self.contact or self.lead


class PhoneNumber(models.Model):
    number = models.CharField(_("phone"), max_length=40)
    contact = models.ForeignKey(
        Contact, null=True, blank=True, on_delete=models.CASCADE, related_name="phones"
    )
    lead = models.ForeignKey(
        Lead, null=True, blank=True, on_delete=models.CASCADE, related_name="phones"
    )
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]
        verbose_name = _("phone number")
        verbose_name_plural = _("phone numbers")
        constraints = [
            models.CheckConstraint(
                condition=Q(contact__isnull=False, lead__isnull=True)
                | Q(contact__isnull=True, lead__isnull=False),
                name="phone_belongs_to_one_record",
            ),
        ]

    def __str__(self):
        return self.number


class Stage(models.Model):
    """A step of the sales pipeline; operators edit the list in the admin."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    probability = models.PositiveSmallIntegerField(
        _("win probability (%)"), default=0, validators=[MinValueValidator(0)]
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["position", "id"]
        verbose_name = _("pipeline stage")
        verbose_name_plural = _("pipeline stages")

    def __str__(self):
        return self.name


class Deal(OwnedRecord):
    class Status(models.TextChoices):
        OPEN = "open", pgettext_lazy("deal status", "Open")
        WON = "won", pgettext_lazy("deal status", "Won")
        LOST = "lost", pgettext_lazy("deal status", "Lost")

    name = models.CharField(_("name"), max_length=200)
    value = models.DecimalField(
        _("value"),
        max_digits=14,
        decimal_places=2,
        default=Decimal("0"),
        validators=[MinValueValidator(Decimal("0"))],
    )
    currency = models.CharField(_("currency"), max_length=3, default="EUR")
    stage = models.ForeignKey(
        Stage, verbose_name=_("stage"), on_delete=models.PROTECT, related_name="deals"
    )
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.OPEN, db_index=True
    )
    lost_reason = models.TextField(_("reason lost"), blank=True)
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)
    expected_close = models.DateField(_("expected close"), null=True, blank=True)
    company = models.ForeignKey(
        Company,
        verbose_name=_("company"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="deals",
    )
    contacts = models.ManyToManyField(
        Contact, verbose_name=_("contacts"), blank=True, related_name="deals"
    )
    lead = models.ForeignKey(
        Lead,
        verbose_name=_("from lead"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="deals",
    )

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("deal")
        verbose_name_plural = _("deals")
        indexes = [models.Index(fields=["status", "stage"])]

    def __str__(self):
        return self.name

    @property
    def is_open(self) -> bool:
        return self.status == self.Status.OPEN

    def get_absolute_url(self):
        return reverse("crm:deal_detail", args=[self.pk])


# The kinds of record, by the name the code, the URLs and the mail links give them.
RECORD_MODELS = {"lead": Lead, "contact": Contact, "company": Company, "deal": Deal}
# Their plurals, as URLs and CSV files name them ("/leads/", `crm_export leads`, CsvJob.kind).
RECORD_PLURALS = {"lead": "leads", "contact": "contacts", "company": "companies", "deal": "deals"}


def record_model(kind: str) -> type[OwnedRecord]:
    """The model of a record kind ("lead", "contact", "company", "deal"); KeyError otherwise."""
    return RECORD_MODELS[kind]


class RecordRef(models.Model):
    """Points at a company, contact, lead or deal: one nullable foreign key per kind. A model
    using it says with a check constraint how many may be set (`at_most_one_record`,
    `exactly_one_record`).

    Explicit foreign keys rather than a generic relation, so that a record's timeline (or its
    mail) is one indexed query and deleting the record cleans up after itself.
    """

    company = models.ForeignKey(
        Company, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    contact = models.ForeignKey(
        Contact, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    lead = models.ForeignKey(
        Lead, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    deal = models.ForeignKey(
        Deal, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )

    # The order the constraints below list the kinds in. A migration compares a constraint's
    # condition term by term, so a subclass whose constraints were first written in another
    # order keeps that order (mailsync.RecordLinkBase).
    RECORD_FIELDS = ("company", "contact", "lead", "deal")

    class Meta:
        abstract = True

    @property
    def record_key(self) -> tuple[str, int] | None:
        """(kind, pk) of the record pointed at, from the foreign keys alone (no query)."""
        for kind in self.RECORD_FIELDS:
            pk = getattr(self, f"{kind}_id")
            if pk is not None:
                return kind, pk
        return None

    @property
    def record(self):
        """The record pointed at, or None (a query unless it came with select_related)."""
        key = self.record_key
        return getattr(self, key[0]) if key else None

    @classmethod
    def at_most_one_record(cls, name: str) -> models.CheckConstraint:
        nulls = [Q(**{f"{field}__isnull": True}) for field in cls.RECORD_FIELDS]
        allowed = Q(*nulls)  # none
        for i in range(len(nulls)):
            others = [n for j, n in enumerate(nulls) if j != i]
            allowed |= Q(*others, **{f"{cls.RECORD_FIELDS[i]}__isnull": False})
        return models.CheckConstraint(condition=allowed, name=name)

    @classmethod
    def exactly_one_record(cls, name: str) -> models.CheckConstraint:
        condition = Q()
        for field in cls.RECORD_FIELDS:
            others = {f"{other}__isnull": True for other in cls.RECORD_FIELDS if other != field}
            condition |= Q(**{f"{field}__isnull": False}, **others)
        return models.CheckConstraint(condition=condition, name=name)

    @classmethod
    def unique_per_record(cls, prefix: str, *fields: str) -> list[models.UniqueConstraint]:
        """`fields` unique per record pointed at, one constraint per kind."""
        return [
            models.UniqueConstraint(
                fields=[*fields, record],
                condition=Q(**{f"{record}__isnull": False}),
                name=f"{prefix}_{record}",
            )
            for record in cls.RECORD_FIELDS
        ]


class AttachedToRecord(RecordRef):
    """Something that belongs to exactly one company, contact, lead or deal (or, for tasks, none):
    notes, tasks and activity."""

    class Meta:
        abstract = True


class Note(AttachedToRecord):
    body = models.TextField(_("note"))
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("author"),
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("note")
        verbose_name_plural = _("notes")
        constraints = [AttachedToRecord.at_most_one_record("note_on_one_record")]

    def __str__(self):
        return self.body[:60]


class Task(AttachedToRecord):
    title = models.CharField(_("task"), max_length=200)
    due_date = models.DateField(_("due"), null=True, blank=True)
    done = models.BooleanField(_("done"), default=False, db_index=True)
    done_at = models.DateTimeField(_("done at"), null=True, blank=True)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("assigned to"),
        on_delete=models.PROTECT,
        related_name="tasks",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["done", "due_date", "id"]
        verbose_name = _("task")
        verbose_name_plural = _("tasks")
        constraints = [AttachedToRecord.at_most_one_record("task_on_at_most_one_record")]

    def __str__(self):
        return self.title

    @property
    def is_overdue(self) -> bool:
        from django.utils import timezone

        return not self.done and self.due_date is not None and self.due_date < timezone.localdate()


class Activity(AttachedToRecord):
    """What happened to a record and who did it, for its timeline and the dashboard.

    The text is rendered at display time from `verb` and `data`, so it follows the reader's
    language rather than the language of whoever acted.
    """

    class Verb(models.TextChoices):
        CREATED = "created", _("created")
        UPDATED = "updated", _("updated")
        CONVERTED = "converted", _("converted")
        STAGE_CHANGED = "stage_changed", _("stage changed")
        WON = "won", _("won")
        LOST = "lost", _("lost")
        REOPENED = "reopened", _("reopened")
        IMPORTED = "imported", _("imported")

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("by"),
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    verb = models.CharField(_("what"), max_length=20, choices=Verb.choices)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(_("when"), auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("activity")
        verbose_name_plural = _("activities")
        constraints = [AttachedToRecord.at_most_one_record("activity_on_one_record")]

    def __str__(self):
        return self.summary

    @property
    def summary(self) -> str:
        from crm.activity import describe

        return describe(self)


def _csv_job_file_name(job: "CsvJob", filename: str) -> str:
    """A random name: the file holds a team's records, and its name must not be guessable."""
    return f"csv-jobs/{secrets.token_urlsafe(24)}.csv"


class CsvJob(models.Model):
    """A CSV import or export too large to run in a web request, run by a django-q2 worker.

    The page polls it for progress (`done` of `total` rows) and shows the report when it is over.
    The file (the upload, or the export the job wrote) is in Django's default storage, offered
    for download to `user` only.
    """

    class Kind(models.TextChoices):
        LEADS = "leads", _("leads")
        CONTACTS = "contacts", _("contacts")
        COMPANIES = "companies", _("companies")
        DEALS = "deals", _("deals")

    class Direction(models.TextChoices):
        IMPORT = "import", _("import")
        EXPORT = "export", _("export")

    class Status(models.TextChoices):
        QUEUED = "queued", _("queued")
        RUNNING = "running", _("running")
        DONE = "done", _("done")
        FAILED = "failed", _("failed")

    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    direction = models.CharField(_("direction"), max_length=10, choices=Direction.choices)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        on_delete=models.CASCADE,
        related_name="csv_jobs",
    )
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.QUEUED
    )
    # The language of the page that started the job: the report's messages are written in it.
    language = models.CharField(_("language"), max_length=10, blank=True)
    filename = models.CharField(_("file name"), max_length=255, blank=True)
    file = models.FileField(_("file"), upload_to=_csv_job_file_name, blank=True)
    total = models.PositiveIntegerField(_("rows"), default=0)
    done = models.PositiveIntegerField(_("rows done"), default=0)
    # An import's counts and bad rows, as crm.csv_io.ImportResult has them.
    report = models.JSONField(_("report"), default=dict, blank=True)
    error = models.TextField(_("error"), blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    # Moved on by every progress update: a running job that stops moving has lost its worker.
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("CSV job")
        verbose_name_plural = _("CSV jobs")

    def __str__(self):
        return f"{self.get_direction_display()} {self.get_kind_display()} #{self.pk}"

    def get_absolute_url(self):
        return reverse("crm:csv_job", args=[self.pk])

    @property
    def is_over(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.FAILED)

    @property
    def percent(self) -> int:
        return min(100, self.done * 100 // self.total) if self.total else 0
