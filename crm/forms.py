from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from crm import selectors
from crm.addresses import (
    normalize_domain,
    normalize_email,
    normalize_phone,
    split_lines,
    split_values,
)
from crm.models import Company, Contact, Deal, Lead, Stage, User

CURRENCIES = ["EUR", "USD", "GBP", "CHF", "JPY", "CAD", "AUD", "SEK", "NOK", "DKK", "PLN", "CZK"]


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, **kwargs):
        super().__init__(format="%Y-%m-%d", **kwargs)


def _clean_many(text: str, splitter, normalizer) -> list[str]:
    """Normalise each value; report every bad one at once, not just the first."""
    values, errors = [], []
    for raw in splitter(text):
        try:
            values.append(normalizer(raw))
        except ValidationError as error:
            errors.extend(error.messages)
    if errors:
        raise ValidationError(errors)
    return list(dict.fromkeys(values))


class RecordForm(forms.ModelForm):
    """A ModelForm that knows who is editing, so its choices show only what they may see."""

    def __init__(self, *args, user: User, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        if "owner" in self.fields:
            self.fields["owner"].queryset = selectors.users_assignable_by(user)
            if not self.instance.pk:
                self.initial.setdefault("owner", user.pk)
        if "company" in self.fields:
            self.fields["company"].queryset = selectors.record_choices(model=Company, user=user)


class PersonFormMixin(forms.Form):
    emails_text = forms.CharField(
        label=_("Email addresses"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("One per line; the first is the primary address."),
    )
    phones_text = forms.CharField(
        label=_("Phone numbers"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("One per line."),
    )

    def init_person_fields(self):
        if self.instance.pk:
            self.initial.setdefault(
                "emails_text", "\n".join(e.address for e in self.instance.emails.all())
            )
            self.initial.setdefault(
                "phones_text", "\n".join(p.number for p in self.instance.phones.all())
            )

    def clean_emails_text(self):
        return _clean_many(self.cleaned_data["emails_text"], split_values, normalize_email)

    def clean_phones_text(self):
        return _clean_many(self.cleaned_data["phones_text"], split_lines, normalize_phone)


class ContactForm(PersonFormMixin, RecordForm):
    field_order = ["first_name", "last_name", "emails_text", "phones_text", "title", "company"]

    class Meta:
        model = Contact
        fields = ["first_name", "last_name", "title", "company", "owner", "description"]
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.init_person_fields()

    def clean(self):
        data = super().clean()
        identity = ("first_name", "last_name", "emails_text")
        if not any(data.get(f) for f in identity) and not self.errors:
            raise ValidationError(_("Give the contact a name or an email address."))
        return data


class LeadForm(PersonFormMixin, RecordForm):
    field_order = [
        "first_name",
        "last_name",
        "company_name",
        "emails_text",
        "phones_text",
        "title",
        "status",
        "source",
    ]

    class Meta:
        model = Lead
        fields = [
            "first_name",
            "last_name",
            "company_name",
            "title",
            "status",
            "source",
            "owner",
            "description",
        ]
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.init_person_fields()
        # "Converted" is set by converting, never picked by hand.
        if not self.instance.is_converted:
            self.fields["status"].choices = [
                c for c in Lead.Status.choices if c[0] != Lead.Status.CONVERTED
            ]

    def clean(self):
        data = super().clean()
        identity = ("first_name", "last_name", "company_name", "emails_text")
        if not any(data.get(f) for f in identity) and not self.errors:
            raise ValidationError(_("Give the lead a name, a company or an email address."))
        return data


class CompanyForm(RecordForm):
    domains_text = forms.CharField(
        label=_("Web domains"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_(
            "For example acme.com, one per line. Mail from these domains concerns the company."
        ),
    )
    field_order = ["name", "domains_text"]

    class Meta:
        model = Company
        fields = ["name", "phone", "industry", "address", "owner", "description"]
        widgets = {
            "address": forms.Textarea(attrs={"rows": 2}),
            "description": forms.Textarea(attrs={"rows": 3}),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial.setdefault(
                "domains_text", "\n".join(d.domain for d in self.instance.domains.all())
            )

    def clean_domains_text(self):
        return _clean_many(self.cleaned_data["domains_text"], split_values, normalize_domain)


class DealForm(RecordForm):
    currency = forms.ChoiceField(label=_("Currency"), choices=[(c, c) for c in CURRENCIES])

    class Meta:
        model = Deal
        fields = [
            "name",
            "value",
            "currency",
            "stage",
            "company",
            "contacts",
            "expected_close",
            "owner",
        ]
        widgets = {
            "expected_close": DateInput(),
            "contacts": forms.SelectMultiple(attrs={"size": 6}),
        }

    def __init__(self, *args, **kwargs):
        from django.conf import settings

        super().__init__(*args, **kwargs)
        self.fields["stage"].queryset = selectors.stages_active()
        self.fields["contacts"].queryset = selectors.record_choices(model=Contact, user=self.user)
        currency = self.instance.currency if self.instance.pk else settings.CRM_DEFAULT_CURRENCY
        if currency not in CURRENCIES:
            self.fields["currency"].choices.append((currency, currency))
        self.initial.setdefault("currency", currency)
        if not self.instance.pk:
            self.initial.setdefault("stage", selectors.stages_active().first())


class LeadConvertForm(forms.Form):
    company_name = forms.CharField(
        label=_("Company"),
        required=False,
        max_length=200,
        help_text=_("An existing company with this name is reused; otherwise one is created."),
    )
    create_deal = forms.BooleanField(label=_("Also create a deal"), required=False, initial=True)
    deal_name = forms.CharField(label=_("Deal name"), required=False, max_length=200)
    deal_value = forms.DecimalField(
        label=_("Value"), required=False, min_value=0, max_digits=14, decimal_places=2
    )
    deal_currency = forms.ChoiceField(label=_("Currency"), choices=[(c, c) for c in CURRENCIES])
    deal_stage = forms.ModelChoiceField(
        label=_("Stage"), queryset=Stage.objects.none(), required=False
    )

    def __init__(self, *args, lead: Lead, **kwargs):
        from django.conf import settings

        super().__init__(*args, **kwargs)
        self.fields["deal_stage"].queryset = selectors.stages_active()
        self.initial.setdefault("company_name", lead.company_name)
        self.initial.setdefault("deal_name", lead.company_name or lead.name)
        self.initial.setdefault("deal_currency", settings.CRM_DEFAULT_CURRENCY)
        self.initial.setdefault("deal_stage", selectors.stages_active().first())

    def clean(self):
        data = super().clean()
        if data.get("create_deal") and not data.get("deal_stage"):
            self.add_error("deal_stage", _("Choose the stage of the new deal."))
        return data


class DealCloseForm(forms.Form):
    outcome = forms.ChoiceField(
        label=_("Outcome"),
        choices=[("won", _("Won")), ("lost", _("Lost"))],
        widget=forms.RadioSelect,
    )
    reason = forms.CharField(
        label=_("Reason lost"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )

    def clean(self):
        data = super().clean()
        if data.get("outcome") == "lost" and not data.get("reason", "").strip():
            self.add_error("reason", _("Say why the deal was lost; it helps the team learn."))
        return data


class DealMoveForm(forms.Form):
    stage = forms.ModelChoiceField(queryset=Stage.objects.none())

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["stage"].queryset = selectors.stages_active()


class NoteForm(forms.Form):
    body = forms.CharField(
        label=_("Note"), widget=forms.Textarea(attrs={"rows": 3}), max_length=20000
    )


class TaskForm(forms.Form):
    title = forms.CharField(label=_("Task"), max_length=200)
    due_date = forms.DateField(label=_("Due"), required=False, widget=DateInput())
    assignee = forms.ModelChoiceField(label=_("Assigned to"), queryset=User.objects.none())

    def __init__(self, *args, user: User, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = selectors.users_assignable_by(user)
        self.initial.setdefault("assignee", user.pk)
