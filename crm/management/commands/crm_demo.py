"""`manage.py crm_demo`: fill a fresh database with a believable sales team and its pipeline.

Everything is written through crm.services, so the records have the timelines the app would have
given them. The data is the same on every machine (a seeded random.Random) and the command runs
only once: the demo users are the marker.

Company domains end in `.example` (reserved, RFC 2606) and phone numbers come from the ranges
set aside for fiction, so nothing here belongs to anyone real.
"""

import random
from datetime import timedelta
from decimal import Decimal

from allauth.account.models import EmailAddress as AccountEmailAddress
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from crm import services
from crm.demo_mail import demo_mail_load
from crm.models import MANAGER_GROUP, REP_GROUP, Company, Contact, Deal, Lead, Stage, Team, User

DEMO_TEAM = "Sales"
DEMO_PASSWORD = "demo-password-123"
DEMO_DOMAIN = "demo.example"
DEMO_SEED = 2024

# (first name, last name, manager?)
DEMO_USERS = [
    ("Giulia", "Rossi", True),
    ("Marco", "Bianchi", False),
    ("Sara", "Conti", False),
    ("Emma", "Walsh", False),
]

# Fictional phone ranges per country: (prefix, digit groups).
PHONES = {
    "it": ("+39 02", (4, 4)),
    "uk": ("+44 20 7946", (4,)),  # Ofcom's drama range
    "us": ("+1 555 01", (2,)),  # 555-0100 to 0199, reserved for fiction
    "ch": ("+41 44 668", (2, 2)),
    "de": ("+49 30 2309", (4,)),
    "fr": ("+33 1 99 00", (2, 2)),
    "no": ("+47 22 00", (2, 2)),
}
CURRENCIES = {"uk": "GBP", "us": "USD", "ch": "CHF"}

FIRST_NAMES = {
    "it": ["Alessandro", "Chiara", "Davide", "Elena", "Francesca", "Giorgio", "Laura", "Lorenzo"]
    + ["Martina", "Matteo", "Paola", "Riccardo", "Roberta", "Simone", "Valentina", "Stefano"],
    "uk": ["Oliver", "Charlotte", "Harry", "Amelia", "George", "Sophie", "Jack", "Lucy"],
    "us": ["Michael", "Jessica", "Ryan", "Ashley", "Daniel", "Megan", "Kevin", "Rachel"],
    "ch": ["Lukas", "Anna", "Reto", "Nadine", "Urs", "Claudia"],
    "de": ["Jonas", "Katrin", "Felix", "Sabine", "Tobias", "Julia"],
    "fr": ["Camille", "Julien", "Manon", "Nicolas", "Élodie", "Antoine"],
    "no": ["Lars", "Ingrid", "Henrik", "Sigrid", "Magnus", "Kari"],
}
LAST_NAMES = {
    "it": ["Esposito", "Romano", "Colombo", "Ricci", "Marino", "Greco", "Bruno", "Gallo"]
    + ["De Luca", "Mancini", "Costa", "Giordano", "Lombardi", "Moretti", "Barbieri", "Fontana"],
    "uk": ["Smith", "Jones", "Taylor", "Brown", "Evans", "Hughes", "Wright", "Clarke"],
    "us": ["Johnson", "Miller", "Davis", "Garcia", "Wilson", "Anderson", "Thomas", "Moore"],
    "ch": ["Müller", "Meier", "Keller", "Weber", "Huber", "Brunner"],
    "de": ["Schmidt", "Fischer", "Wagner", "Becker", "Hoffmann", "Schäfer"],
    "fr": ["Martin", "Bernard", "Dubois", "Laurent", "Lefèvre", "Moreau"],
    "no": ["Hansen", "Johansen", "Olsen", "Larsen", "Berg", "Haugen"],
}
TITLES = [
    "CEO",
    "CFO",
    "Head of Sales",
    "Purchasing Manager",
    "Operations Director",
    "IT Manager",
    "Marketing Manager",
    "Office Manager",
    "Procurement Specialist",
    "Project Manager",
]

# (name, country, industry, domains, address)
COMPANIES = [
    ("Officine Brera S.r.l.", "it", "Manufacturing", ["officinebrera.example"], "Milano"),
    ("Vini Colli Euganei", "it", "Food & beverage", ["collieuganei.example"], "Padova"),
    (
        "Tessitura Lariana S.p.A.",
        "it",
        "Textiles",
        ["tessituralariana.example", "lariana-textiles.example"],
        "Como",
    ),
    ("Studio Legale Ferri & Associati", "it", "Legal services", ["studioferri.example"], "Roma"),
    ("Logistica Adriatica", "it", "Logistics", ["logadriatica.example"], "Ancona"),
    ("Farmacie Riunite Toscane", "it", "Healthcare", ["farmacieriunite.example"], "Firenze"),
    ("Ceramiche Sassuolo Nord", "it", "Manufacturing", ["ceramichesn.example"], "Sassuolo"),
    ("Nuvola Software S.r.l.", "it", "Software", ["nuvolasoftware.example"], "Torino"),
    ("Northwind Analytics Ltd", "uk", "Software", ["northwind-analytics.example"], "London"),
    ("Helvetia Precision AG", "ch", "Engineering", ["helvetiaprecision.example"], "Zürich"),
    ("Brightwater Hotels", "us", "Hospitality", ["brightwaterhotels.example"], "Boston"),
    ("Kessler Maschinenbau GmbH", "de", "Engineering", ["kessler-mb.example"], "Berlin"),
    ("Lumière Cosmétiques SA", "fr", "Retail", ["lumiere-cosmetiques.example"], "Paris"),
    ("Fjord Energy AS", "no", "Energy", ["fjordenergy.example"], "Oslo"),
    ("Atlas Freight Inc.", "us", "Logistics", ["atlasfreight.example"], "Chicago"),
]

# (first, last, company, country, title, status, source)
LEADS = [
    ("Federico", "Sala", "Birrificio del Ticino", "it", "Founder", "new", "web"),
    ("Irene", "Villa", "Ottica Villa", "it", "Owner", "new", "referral"),
    ("Peter", "Lindqvist", "Nordic Timber AB", "no", "Sales Director", "new", "event"),
    ("Chloe", "Bennett", "Bennett & Hart Architects", "uk", "Partner", "new", "web"),
    ("Andrea", "Ferretti", "Cantiere Navale Ferretti", "it", "COO", "contacted", "outbound"),
    ("Luisa", "Pellegrini", "Agriturismo Le Querce", "it", "Owner", "contacted", "web"),
    ("Marcus", "Reid", "Reid Dental Group", "us", "Practice Manager", "contacted", "partner"),
    ("Beatrice", "Fabbri", "Fabbri Arredamenti", "it", "Purchasing", "contacted", "event"),
    ("Nils", "Bauer", "Bauer Solar GmbH", "de", "CEO", "qualified", "referral"),
    ("Giada", "Marchetti", "Marchetti Eventi", "it", "Event Manager", "qualified", "web"),
    ("Thomas", "Girard", "Girard Optique", "fr", "Owner", "qualified", "import"),
    ("Kevin", "Price", "Price Fitness Clubs", "us", "Head of IT", "unqualified", "outbound"),
    ("Silvia", "Rinaldi", "", "it", "Freelance consultant", "unqualified", "other"),
    ("Paolo", "Ferrara", "Ferrara Impianti", "it", "Technical Director", "converted", "event"),
    ("Hannah", "Schulz", "Schulz Medizintechnik", "de", "Procurement", "converted", "partner"),
]

PRODUCTS = [
    "CRM rollout",
    "Annual licence",
    "Support renewal",
    "Pilot project",
    "Fleet tracking",
    "Website redesign",
    "Training programme",
    "Data migration",
    "Second site expansion",
    "Premium support upgrade",
]
LOST_REASONS = [
    "Went with a cheaper competitor",
    "Budget frozen until next year",
    "No decision maker involved",
]
NOTES = [
    "Call went well: they want a proposal by the end of the month.",
    "Asked for references from a customer in the same industry.",
    "Budget approved for Q3; procurement needs three quotes.",
    "Met at the trade fair, very interested in the reporting features.",
    "Decision postponed: the CFO is on holiday for two weeks.",
    "Sent the price list and the case study.",
    "They use spreadsheets today and lose track of follow-ups.",
    "Prefers to be contacted by phone in the morning.",
    "Legal is reviewing the contract; expect comments next week.",
    "Competitor offered 15% less; we compete on support and onboarding.",
]
TASKS = [
    "Send the proposal",
    "Follow-up call",
    "Prepare the demo",
    "Check references",
    "Send the contract for signature",
    "Schedule a meeting with the CFO",
    "Update the quote",
    "Book the onsite visit",
]


def demo_is_loaded() -> bool:
    return User.objects.filter(email__iendswith=f"@{DEMO_DOMAIN}").exists()


def _slug(name: str) -> str:
    table = str.maketrans("àáèéìíòóùúäöüåæøç", "aaeeiioouuaouaaoc")
    return "".join(c for c in name.lower().translate(table) if c.isalnum())


class Command(BaseCommand):
    help = "Fill an empty database with a demo sales team, companies, contacts, leads and deals."

    def add_arguments(self, parser):
        parser.add_argument(
            "--seed",
            type=int,
            default=DEMO_SEED,
            help="Random seed (the default gives the same data everywhere).",
        )

    def handle(self, *args, seed, **options):
        if demo_is_loaded():
            self.stdout.write(_("The demo data is already there; nothing to do."))
            return
        stages = list(Stage.objects.filter(is_active=True).order_by("position", "id"))
        if not stages:
            raise CommandError(_("There are no active pipeline stages: run `manage.py migrate`."))
        self.rng = random.Random(seed)
        self.today = timezone.localdate()
        with transaction.atomic():
            counts = self.load(stages)
            mail = demo_mail_load(users=self.users, stages=stages, today=self.today)
        self.stdout.write(
            self.style.SUCCESS(
                _(
                    "Demo data loaded: %(users)d users, %(companies)d companies, "
                    "%(contacts)d contacts, %(leads)d leads, %(deals)d deals."
                )
                % counts
            )
        )
        self.stdout.write(
            _(
                "Demo mail: %(messages)d messages in the mailboxes of %(reps)s, put through the "
                "sync's pipeline (their mail servers do not exist: “Sync now” shows an error)."
            )
            % {"messages": mail["messages"], "reps": ", ".join(mail["reps"])}
        )
        self.stdout.write(
            _("Demo users (team “%(team)s”), all with the password %(password)s:")
            % {"team": DEMO_TEAM, "password": DEMO_PASSWORD}
        )
        for user in self.users:
            role = _("manager") if user.is_manager else _("rep")
            self.stdout.write(f"  {user.email}  ({role})")

    # Building blocks

    def phone(self, country: str) -> str:
        prefix, groups = PHONES[country]
        digits = " ".join(
            "".join(str(self.rng.randint(0, 9)) for _digit in range(size)) for size in groups
        )
        return f"{prefix}{digits}" if prefix.endswith("01") else f"{prefix} {digits}"

    def load(self, stages: list[Stage]) -> dict:
        rng = self.rng
        team, _created = Team.objects.get_or_create(name=DEMO_TEAM)
        managers = Group.objects.get_or_create(name=MANAGER_GROUP)[0]
        reps = Group.objects.get_or_create(name=REP_GROUP)[0]
        self.users = []
        for first, last, is_manager in DEMO_USERS:
            username = f"{_slug(first)}.{_slug(last)}"
            user = User(
                username=username,
                email=f"{username}@{DEMO_DOMAIN}",
                first_name=first,
                last_name=last,
                team=team,
            )
            user.set_password(DEMO_PASSWORD)
            user.save()
            user.groups.add(managers if is_manager else reps)
            user._is_manager = is_manager
            AccountEmailAddress.objects.create(
                user=user, email=user.email, verified=True, primary=True
            )
            self.users.append(user)
        manager = self.users[0]
        sellers = self.users[1:]

        # Companies, each with an owner and a country its people and deals follow.
        companies = []
        for i, (name, country, industry, domains, city) in enumerate(COMPANIES):
            owner = sellers[i % len(sellers)] if i % 5 else manager
            company = services.company_save(
                company=Company(
                    name=name,
                    industry=industry,
                    phone=self.phone(country),
                    address=city,
                    owner=owner,
                ),
                actor=owner,
                domains=domains,
            )
            companies.append((company, country, domains[0]))

        # Contacts: two per company, seven more spread around, three on their own.
        slots = [c for c in companies for _copy in range(2)]
        slots += rng.sample(companies, 7)
        slots += [(None, rng.choice(["it", "uk", "fr"]), None) for _n in range(3)]
        used_names = set()
        contacts_by_company: dict[int, list[Contact]] = {}
        contacts = []
        for company, country, domain in slots:
            while True:
                first = rng.choice(FIRST_NAMES[country])
                last = rng.choice(LAST_NAMES[country])
                if (first, last) not in used_names:
                    used_names.add((first, last))
                    break
            local = f"{_slug(first)}.{_slug(last)}"
            emails = [f"{local}@{domain or 'mail.example'}"]
            if domain and rng.random() < 0.3:
                emails.append(f"{local}@mail.example")
            phones = [self.phone(country)]
            if rng.random() < 0.4:
                phones.append(self.phone(country))
            owner = company.owner if company else rng.choice(sellers)
            contact = services.contact_save(
                contact=Contact(
                    first_name=first,
                    last_name=last,
                    title=rng.choice(TITLES),
                    company=company,
                    owner=owner,
                ),
                actor=owner,
                emails=emails,
                phones=phones,
            )
            contacts.append(contact)
            if company:
                contacts_by_company.setdefault(company.pk, []).append(contact)

        # Leads: every status, some converted into a contact (and a deal).
        leads = []
        for i, (first, last, company_name, country, title, status, source) in enumerate(LEADS):
            owner = sellers[i % len(sellers)]
            local = f"{_slug(first)}.{_slug(last)}"
            domain = f"{_slug(company_name)}.example" if company_name else "mail.example"
            emails = [f"{local}@{domain}"]
            if rng.random() < 0.25:
                emails.append(f"{_slug(first)}@mail.example")
            lead = services.lead_save(
                lead=Lead(
                    first_name=first,
                    last_name=last,
                    company_name=company_name,
                    title=title,
                    source=source,
                    owner=owner,
                    status=Lead.Status.NEW,
                ),
                actor=owner,
                emails=emails,
                phones=[self.phone(country)],
            )
            if status == Lead.Status.CONVERTED:
                _contact, company, deal = services.lead_convert(
                    lead=lead,
                    actor=owner,
                    create_deal=i % 2 == 1,
                    deal_name=f"{company_name} — {rng.choice(PRODUCTS)}",
                    deal_value=Decimal(rng.randrange(4_000, 30_000, 500)),
                    deal_currency=CURRENCIES.get(country, "EUR"),
                    deal_stage=stages[0],
                )
                services.company_set_domains(company=company, domains=[domain])
                if deal is not None:
                    deal.expected_close = self.today + timedelta(days=rng.randint(30, 90))
                    services.deal_save(deal=deal, actor=owner)
            elif status != Lead.Status.NEW:
                lead.status = status
                lead = services.lead_save(lead=lead, actor=owner)
            leads.append(lead)

        # Deals: open ones in every active stage, moved there step by step, and some closed.
        outcomes = ["open"] * 14 + ["won"] * 4 + ["lost"] * 2
        deals = []
        for n, outcome in enumerate(outcomes):
            company, country, _domain = companies[n % len(companies)]
            owner = company.owner
            people = contacts_by_company.get(company.pk, [])
            chosen = rng.sample(people, min(len(people), rng.choice([1, 1, 2])))
            if outcome == "open":
                target = n % len(stages)
                close = self.today + timedelta(days=rng.randint(-7, 120))
            else:
                target = len(stages) - 1 if outcome == "won" else rng.randrange(len(stages))
                close = self.today - timedelta(days=rng.randint(3, 60))
            deal = services.deal_save(
                deal=Deal(
                    name=f"{company.name} — {PRODUCTS[n % len(PRODUCTS)]}",
                    value=Decimal(rng.randrange(2_000, 120_000, 500)),
                    currency=CURRENCIES.get(country, "EUR"),
                    stage=stages[0],
                    expected_close=close,
                    company=company,
                    owner=owner,
                ),
                actor=owner,
                contacts=chosen,
            )
            for stage in stages[1 : target + 1]:
                services.deal_move_stage(deal=deal, stage=stage, actor=owner)
            if outcome == "won":
                services.deal_close(deal=deal, actor=owner, won=True)
            elif outcome == "lost":
                services.deal_close(
                    deal=deal, actor=owner, won=False, reason=rng.choice(LOST_REASONS)
                )
            deals.append(deal)

        # Notes and tasks on a sample of records.
        records = deals[:10] + contacts[::6] + leads[:4] + [entry[0] for entry in companies[:3]]
        for record in rng.sample(records, 16):
            services.note_add(record=record, author=record.owner, body=rng.choice(NOTES))
        for k, record in enumerate(rng.sample(records, 14)):
            task = services.task_add(
                record=record,
                created_by=manager if k % 4 == 0 else record.owner,
                assignee=record.owner,
                title=rng.choice(TASKS),
                due_date=self.today + timedelta(days=rng.randint(-5, 21)),
            )
            if k % 5 == 4:
                services.task_set_done(task=task, done=True)
        for user in self.users:
            services.task_add(
                record=None,
                created_by=user,
                assignee=user,
                title="Review my pipeline for the weekly meeting",
                due_date=self.today + timedelta(days=(4 - self.today.weekday()) % 7),
            )

        return {
            "users": len(self.users),
            "companies": Company.objects.count(),
            "contacts": Contact.objects.count(),
            "leads": len(leads),
            "deals": Deal.objects.count(),
        }
