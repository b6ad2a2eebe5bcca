"""The demo's mail: sales conversations between the demo reps and the demo's contacts and leads,
in English and Italian, put through the real ingest pipeline (`mailsync.ingest.message_ingest`,
as a sync would after fetching them) so that every mail feature has something to show: mail on
contacts, companies and deals, a thread waiting in the "choose a deal" queue, the skip ledger
(`too_many_recipients` with "Import anyway", `blocked`), a candidate, a private thread and mail a
teammate sees through sharing.

Messages are built with `email.message.EmailMessage`; nothing creates Message rows by hand.
Dates count back from today, so the demo always looks recent, and every Message-ID is fixed, so
the data is the same on every machine. Addresses end in `.example` (RFC 2606).
"""

import struct
import zlib
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from email.message import EmailMessage
from email.utils import format_datetime
from zoneinfo import ZoneInfo

from django.utils import timezone

from crm import services
from crm.models import Company, Contact, Deal, Lead, Stage, User
from mailsync.ingest import Envelope, ImapSource, message_ingest
from mailsync.models import MailAccount, MailFolder, Message, OAuthGrant, Thread
from mailsync.routing import blocking
from mailsync.sync.run import history_start

ROME = ZoneInfo("Europe/Rome")
UIDVALIDITY = 1
INBOX, SENT = MailFolder.Role.INBOX, MailFolder.Role.SENT
# Marco keeps his gym's mail out of the CRM: the block list's demo.
BLOCKED_DOMAIN = "palestra-fitlife.example"
# An event organiser who put every exhibitor in To: more than MAILSYNC_MAX_RECIPIENTS (100).
MASS_RECIPIENTS = 120


@dataclass
class Person:
    name: str
    address: str

    @property
    def first(self) -> str:
        return self.name.split()[0]

    def __str__(self) -> str:
        return f"{self.name} <{self.address}>"


@dataclass
class Mail:
    """One message of the demo, and the mailboxes (account, folder role) it is in."""

    mid: str
    raw: bytes
    when: datetime
    places: list[tuple[str, str]] = field(default_factory=list)  # (username, folder role)


class Conversation:
    """Builds a thread's messages one after the other, each replying to the one before."""

    def __init__(self, writer: "DemoMail", subject: str):
        self.writer = writer
        self.subject = subject
        self.references: list[str] = []

    def say(
        self,
        *,
        sender: Person,
        to: list[Person],
        body: str,
        days_ago: int,
        at: str,
        cc: list[Person] = (),
        html: str = "",
        attach: tuple[str, str, bytes] | None = None,
        related: tuple[str, bytes] | None = None,
        places: list[tuple[str, str]],
    ) -> Mail:
        reply = bool(self.references)
        subject = f"Re: {self.subject}" if reply else self.subject
        mail = self.writer.message(
            sender=sender,
            to=to,
            cc=list(cc),
            subject=subject,
            body=body,
            days_ago=days_ago,
            at=at,
            html=html,
            attach=attach,
            related=related,
            in_reply_to=self.references[-1] if reply else "",
            references=list(self.references),
            places=places,
        )
        self.references.append(mail.mid)
        return mail


class DemoMail:
    def __init__(self, *, users: list[User], stages: list[Stage], today: date):
        _giulia, self.marco, self.sara, self.emma = users
        self.stages = stages
        self.today = today
        self.mails: list[Mail] = []
        self.serial = 0

    # Building blocks

    @staticmethod
    def person(user_or_record) -> Person:
        if isinstance(user_or_record, User):
            return Person(user_or_record.get_full_name(), user_or_record.email)
        return Person(user_or_record.name, user_or_record.emails.all()[0].address)

    def message(
        self,
        *,
        sender: Person,
        to: list[Person],
        cc: list[Person],
        subject: str,
        body: str,
        days_ago: int,
        at: str,
        html: str = "",
        attach=None,
        related=None,
        in_reply_to: str = "",
        references: list[str] = (),
        places: list[tuple[str, str]],
    ) -> Mail:
        self.serial += 1
        hour, minute = (int(part) for part in at.split(":"))
        when = datetime.combine(self.today - timedelta(days=days_ago), time(hour, minute), ROME)
        domain = sender.address.rpartition("@")[2]
        mid = f"demo-{self.serial:03d}.{when:%Y%m%d%H%M}@{domain}"
        message = EmailMessage()
        message["From"] = str(sender)
        message["To"] = ", ".join(str(p) for p in to)
        if cc:
            message["Cc"] = ", ".join(str(p) for p in cc)
        message["Subject"] = subject
        message["Date"] = format_datetime(when)
        message["Message-ID"] = f"<{mid}>"
        if in_reply_to:
            message["In-Reply-To"] = f"<{in_reply_to}>"
            message["References"] = " ".join(f"<{m}>" for m in references)
        message.set_content(body)
        if html:
            message.add_alternative(html, subtype="html")
            if related:
                cid, png = related
                message.get_payload()[1].add_related(
                    png, "image", "png", cid=f"<{cid}>", filename="shop-floor.png"
                )
        if attach:
            filename, subtype, payload = attach
            message.add_attachment(payload, "application", subtype, filename=filename)
        mail = Mail(mid=mid, raw=bytes(message), when=when, places=places)
        self.mails.append(mail)
        return mail

    # The records the mail is about, found by name so the text can talk about them

    def company(self, name: str) -> Company:
        return Company.objects.get(name=name)

    def open_deal(self, company: Company) -> Deal:
        return (
            Deal.objects.filter(company=company, status=Deal.Status.OPEN)
            .exclude(contacts=None)
            .order_by("pk")
            .first()
        )

    def deal_contact(self, deal: Deal) -> Contact:
        return deal.contacts.order_by("pk").prefetch_related("emails").first()

    # Loading

    def load(self) -> dict:
        marco_account = self.account(self.marco, sharing=MailAccount.Sharing.FULL)
        # Sara shares only who, when and the subject: Marco sees that much of her mail.
        sara_account = self.account(self.sara, sharing=MailAccount.Sharing.SUBJECT)
        blocking.block_add(user=self.marco, value=BLOCKED_DOMAIN)

        private_thread_mid = self.write()
        outcomes = self.store([marco_account, sara_account])

        # Marco made the confidential thread private: his teammates see nothing of it.
        Thread.objects.filter(messages__message_id=private_thread_mid).update(
            visibility=Thread.Visibility.PRIVATE
        )
        self.google_account_ended(self.emma)
        return {
            "messages": Message.objects.count(),
            "reps": [self.marco.email, self.sara.email],
            "outcomes": outcomes,
        }

    def account(self, user: User, *, sharing: str) -> MailAccount:
        # The demo's mail servers do not exist: a "Sync now" ends in a real `dns_not_found`
        # error, which is fine: it shows the mailbox page's troubleshooting. next_sync_at=None
        # keeps the schedule from trying on its own.
        now = timezone.now()
        account = MailAccount(
            user=user,
            email=user.email,
            login=user.email,
            imap_host="imap.demo.example",
            smtp_host="smtp.demo.example",
            status=MailAccount.Status.CONNECTED,
            sharing=sharing,
            last_sync_at=now,
            last_success_at=now,
            next_sync_at=None,
        )
        account.secret = "demo"
        account.save()
        for role, name in [(INBOX, "INBOX"), (SENT, "Sent")]:
            MailFolder.objects.create(
                account=account,
                role=role,
                name=name,
                uidvalidity=UIDVALIDITY,
                last_synced_at=now,
                # The history counts as read, so a sync would only look for newer mail.
                covered_since=history_start(account),
            )
        return account

    def google_account_ended(self, user: User) -> MailAccount:
        """Emma's Google mailbox, whose grant Google ended (she removed the CRM's access): the
        mailbox page shows oauth_reconnect_required with its Reconnect button."""
        now = timezone.now()
        account = MailAccount(
            user=user,
            email=user.email,
            login=user.email,
            auth=MailAccount.Auth.GOOGLE,
            imap_host="imap.gmail.com",
            smtp_host="smtp.gmail.com",
            status=MailAccount.Status.ERROR,
            error_code="oauth_reconnect_required",
            error_stage="imap_login",
            error_detail="invalid_grant: Token has been expired or revoked.",
            error_since=now - timedelta(hours=3),
            failures=1,
            last_sync_at=now - timedelta(hours=3),
            last_success_at=now - timedelta(hours=4),
            next_sync_at=None,
        )
        account.secret = "demo-refresh-token"
        account.save()
        OAuthGrant.objects.create(
            account=account,
            subject="demo",
            scope="openid email https://mail.google.com/",
            refreshed_at=now - timedelta(hours=4),
            dead_at=now - timedelta(hours=3),
            dead_notified_at=now - timedelta(hours=3),
        )
        return account

    def store(self, accounts: list[MailAccount]) -> dict[str, int]:
        """Feed the messages to the pipeline in the order they were written, as consecutive
        runs per folder: a reply is stored after the message it answers, so it finds its
        thread whichever folder each is in."""
        folders = {
            (f.account.user.username, f.role): f
            for f in MailFolder.objects.filter(account__in=accounts).select_related("account")
        }
        uids = dict.fromkeys(folders, 0)
        runs: list[tuple[tuple[str, str], list[Envelope]]] = []
        for mail in sorted(self.mails, key=lambda m: m.when):
            for place in mail.places:
                uids[place] += 1
                item = Envelope(mail.raw, ImapSource(folders[place], UIDVALIDITY, uids[place]))
                if runs and runs[-1][0] == place:
                    runs[-1][1].append(item)
                else:
                    runs.append((place, [item]))
        outcomes: dict[str, int] = {}
        for place, items in runs:
            account = folders[place].account
            for outcome in message_ingest(account=account, envelopes=items):
                outcomes[outcome.code] = outcomes.get(outcome.code, 0) + 1
        for place, folder in folders.items():
            folder.last_uid = uids[place]
            folder.save(update_fields=["last_uid"])
        return outcomes

    # The conversations

    def write(self) -> str:
        """Write every message; returns the Message-ID of the thread Marco made private."""
        marco, sara = self.person(self.marco), self.person(self.sara)
        m_in, m_out = [("marco.bianchi", INBOX)], [("marco.bianchi", SENT)]
        s_in, s_out = [("sara.conti", INBOX)], [("sara.conti", SENT)]
        sign_marco = "\n\nMarco Bianchi\nSales, demo.example\n"
        sign_sara = "\n\nSara Conti\nSales, demo.example\n"

        # Officine Brera: an offer in Italian, the PDF attached; on the contact, the company and
        # the contact's only open deal.
        brera_deal = self.open_deal(self.company("Officine Brera S.r.l."))
        brera = self.person(self.deal_contact(brera_deal))
        product = brera_deal.name.split(" — ")[-1]
        talk = Conversation(self, f"Officine Brera: proposta per {product}")
        talk.say(
            sender=marco,
            to=[brera],
            days_ago=18,
            at="09:12",
            places=m_out,
            body=f"Buongiorno {brera.first},\n\ngrazie per la telefonata di ieri. Come d'accordo "
            f"le riassumo i punti principali del progetto ({product}):\n\n"
            "- 25 utenti tra commerciali e assistenza clienti\n"
            "- importazione dei contatti dal gestionale attuale\n"
            "- due giornate di formazione presso la vostra sede\n\n"
            "Le preparo l'offerta dettagliata entro venerdì." + sign_marco,
        )
        talk.say(
            sender=brera,
            to=[marco],
            days_ago=17,
            at="16:40",
            places=m_in,
            body="Buongiorno Marco,\n\nperfetto, grazie. Ci servirebbe anche una stima per la "
            "formazione di altre 12 persone del reparto tecnico, se possibile nella stessa "
            f"offerta.\n\nCordiali saluti,\n{brera.name}\n",
        )
        talk.say(
            sender=marco,
            to=[brera],
            days_ago=15,
            at="11:05",
            places=m_out,
            attach=("Offerta-2026-118-Officine-Brera.pdf", "pdf", offer_pdf(product)),
            body=f"Buongiorno {brera.first},\n\nin allegato l'offerta n. 2026/118, con la "
            "formazione del reparto tecnico come voce separata. L'offerta è valida 60 giorni.\n\n"
            "Resto a disposizione per qualsiasi chiarimento." + sign_marco,
        )
        talk.say(
            sender=brera,
            to=[marco],
            days_ago=14,
            at="08:51",
            places=m_in,
            body="Ricevuta, grazie. La giro al nostro direttore finanziario e le facciamo sapere "
            f"entro fine mese.\n\n{brera.name}\n",
        )

        # Northwind: a contact on two open deals asks about both; the thread waits in the
        # "choose a deal" queue.
        northwind = self.company("Northwind Analytics Ltd")
        first_deal = self.open_deal(northwind)
        buyer_contact = self.deal_contact(first_deal)
        services.deal_save(
            deal=Deal(
                name=f"{northwind.name} — Data migration",
                value=Decimal(18_500),
                currency="GBP",
                stage=self.stages[1 % len(self.stages)],
                expected_close=self.today + timedelta(days=75),
                company=northwind,
                owner=northwind.owner,
            ),
            actor=northwind.owner,
            contacts=[buyer_contact],
        )
        buyer = self.person(buyer_contact)
        talk = Conversation(self, "Pricing for both projects")
        talk.say(
            sender=buyer,
            to=[marco],
            days_ago=9,
            at="10:27",
            places=m_in,
            body="Hi Marco,\n\nahead of our board meeting on Thursday, could you send me updated "
            "figures for both projects: the one we discussed in the spring and the data "
            "migration? The board will want to see them side by side.\n\n"
            f"Thanks,\n{buyer.name}\nNorthwind Analytics\n",
        )
        talk.say(
            sender=marco,
            to=[buyer],
            days_ago=8,
            at="09:03",
            places=m_out,
            body=f"Hi {buyer.first},\n\nof course. I'll send both quotes by Wednesday noon, with "
            "a combined price should you go ahead with both this year." + sign_marco,
        )

        # A lead from the web site, in Italian: on the lead.
        lead = Lead.objects.prefetch_related("emails").get(first_name="Federico", last_name="Sala")
        federico = Person(lead.name, lead.emails.all()[0].address)
        talk = Conversation(self, "Richiesta informazioni dal sito")
        talk.say(
            sender=federico,
            to=[marco],
            days_ago=6,
            at="08:15",
            places=m_in,
            body="Buongiorno,\n\nsono Federico Sala del Birrificio del Ticino. Abbiamo tre agenti "
            "commerciali e seguiamo i clienti (pub e distributori) con dei fogli Excel. Vorrei "
            "capire se il vostro CRM fa al caso nostro e quanto costa.\n\nGrazie,\nFederico\n",
        )
        talk.say(
            sender=marco,
            to=[federico],
            days_ago=6,
            at="10:42",
            places=m_out,
            body="Buongiorno Federico,\n\ngrazie per averci contattato. Le propongo una demo di "
            "mezz'ora online: martedì alle 15 o mercoledì alle 10, come preferisce." + sign_marco,
        )
        talk.say(
            sender=federico,
            to=[marco],
            days_ago=5,
            at="18:20",
            places=m_in,
            body="Mercoledì alle 10 va benissimo. Partecipa anche il mio socio.\n\nFederico\n",
        )

        # Lumière: an HTML message with a remote image (not loaded until the reader asks).
        lumiere = self.person(
            self.deal_contact(self.open_deal(self.company("Lumière Cosmétiques SA")))
        )
        Conversation(self, "Our spring collection and the Cosmoprof stand").say(
            sender=lumiere,
            to=[marco],
            days_ago=11,
            at="14:02",
            places=m_in,
            body="Dear Marco,\n\nour spring collection is out, and we will be at Cosmoprof in "
            "Bologna, hall 26, stand B12. Would you like to meet there to talk about the "
            f"roll-out to our shops?\n\nBest regards,\n{lumiere.name}\n",
            html=(
                "<p>Dear Marco,</p>"
                '<p><img src="https://media.lumiere-cosmetiques.example/spring-2026.jpg" '
                'alt="The spring collection" width="480" height="240"></p>'
                "<p>Our spring collection is out, and we will be at <b>Cosmoprof</b> in "
                "Bologna, hall 26, stand B12. Would you like to meet there to talk about the "
                "roll-out to our shops?</p>"
                f"<p>Best regards,<br>{lumiere.name}</p>"
            ),
        )

        # Helvetia: Sara is in Cc, so the thread is in both mailboxes (stored once); the reply
        # has a photo inline (cid:).
        helvetia = self.person(
            self.deal_contact(self.open_deal(self.company("Helvetia Precision AG")))
        )
        talk = Conversation(self, "Site visit in Zürich: next steps")
        talk.say(
            sender=marco,
            to=[helvetia],
            cc=[sara],
            days_ago=4,
            at="17:30",
            places=m_out + s_in,
            body=f"Dear {helvetia.first},\n\nthank you for showing us around today. As agreed, "
            "Sara will plan the installation of the terminals on the shop floor. Could you send "
            "us a photo of the area where they will go?" + sign_marco,
        )
        talk.say(
            sender=helvetia,
            to=[marco],
            cc=[sara],
            days_ago=3,
            at="09:48",
            places=m_in + s_in,
            body="Dear Marco, dear Sara,\n\nhere is the photo of the area, next to the quality "
            f"control bench.\n\nKind regards,\n{helvetia.name}\n",
            html=(
                "<p>Dear Marco, dear Sara,</p>"
                "<p>here is the photo of the area, next to the quality control bench:</p>"
                '<p><img src="cid:shopfloor.demo@helvetiaprecision.example" '
                'alt="The shop floor" width="160" height="96"></p>'
                f"<p>Kind regards,<br>{helvetia.name}</p>"
            ),
            related=("shopfloor.demo@helvetiaprecision.example", shop_floor_png()),
        )

        # Tessitura Lariana: someone new at the company's second domain. On the company by its
        # domain, and a candidate (no contact has the address yet).
        Conversation(self, "Nuovo referente per il vostro progetto").say(
            sender=Person("Marta Galli", "marta.galli@lariana-textiles.example"),
            to=[marco],
            days_ago=2,
            at="11:34",
            places=m_in,
            body="Buongiorno Marco,\n\nda questo mese seguo io gli acquisti di Tessitura Lariana. "
            "Le chiedo di mettermi in copia d'ora in poi per tutto ciò che riguarda il "
            "progetto.\n\nCordiali saluti,\nMarta Galli\nUfficio acquisti\n",
        )

        # An unknown sender: nothing to link, a candidate to add as a lead.
        Conversation(self, "A CRM for a team of twenty?").say(
            sender=Person("Olivia Grant", "olivia.grant@harbourlight.example"),
            to=[marco],
            days_ago=1,
            at="15:10",
            places=m_in,
            body="Hello Marco,\n\na colleague at Northwind Analytics recommended you. We are a "
            "twenty-person design studio looking for a CRM that reads our mail. Could we have a "
            "call next week?\n\nOlivia Grant\nHarbourlight Studio\n",
        )

        # Logistica Adriatica: confidential, so Marco made the thread private.
        adriatica = self.person(
            self.deal_contact(self.open_deal(self.company("Logistica Adriatica")))
        )
        talk = Conversation(self, "Riservato: l'offerta di un concorrente")
        private = talk.say(
            sender=adriatica,
            to=[marco],
            days_ago=7,
            at="19:05",
            places=m_in,
            body="Marco,\n\nin via confidenziale: abbiamo ricevuto un'offerta da un vostro "
            "concorrente, più bassa del 15%. Preferiamo voi per l'assistenza, ma devo portare un "
            f"prezzo migliore al consiglio. Preferirei che restasse tra noi.\n\n{adriatica.name}\n",
        )
        talk.say(
            sender=marco,
            to=[adriatica],
            days_ago=6,
            at="08:30",
            places=m_out,
            body=f"Ciao {adriatica.first},\n\ngrazie per la franchezza, resta tra noi. Ne parlo "
            "con la mia responsabile e ti chiamo domani con una proposta." + sign_marco,
        )

        # Brightwater: the signed order form comes back.
        brightwater = self.person(
            self.deal_contact(self.open_deal(self.company("Brightwater Hotels")))
        )
        talk = Conversation(self, "Order form for the Boston hotels")
        talk.say(
            sender=marco,
            to=[brightwater],
            days_ago=12,
            at="16:00",
            places=m_out,
            body=f"Hi {brightwater.first},\n\nas promised, the order form is ready for "
            "signature in the customer portal. Let me know if your legal team has comments."
            + sign_marco,
        )
        talk.say(
            sender=brightwater,
            to=[marco],
            days_ago=10,
            at="13:22",
            places=m_in,
            body="Hi Marco,\n\nlegal is happy with it; I'll sign on Monday once our CFO is back."
            f"\n\nCheers,\n{brightwater.name}\n",
        )

        # Personal mail from Marco's gym: its domain is on his block list, so it stays off the
        # CRM and the ledger says `blocked`.
        Conversation(self, "Il tuo abbonamento scade a fine mese").say(
            sender=Person("FitLife Milano", f"info@{BLOCKED_DOMAIN}"),
            to=[marco],
            days_ago=3,
            at="07:00",
            places=m_in,
            body="Ciao Marco,\n\nil tuo abbonamento annuale scade a fine mese: rinnovalo entro "
            "venerdì e il primo mese è in regalo.\n\nLo staff di FitLife\n",
        )

        # Sara's mailbox. Vini Colli Euganei: a renewal, in Italian.
        colli = self.person(self.deal_contact(self.open_deal(self.company("Vini Colli Euganei"))))
        talk = Conversation(self, "Rinnovo del contratto di assistenza")
        talk.say(
            sender=sara,
            to=[colli],
            days_ago=13,
            at="10:10",
            places=s_out,
            body=f"Gentile {colli.first},\n\nil contratto di assistenza scade il mese prossimo. "
            "Le propongo il rinnovo alle stesse condizioni, con in più l'accesso all'app per "
            "gli agenti." + sign_sara,
        )
        talk.say(
            sender=colli,
            to=[sara],
            days_ago=12,
            at="12:45",
            places=s_in,
            body="Gentile Sara,\n\nva bene il rinnovo. Per l'app, quanti utenti sono compresi?"
            f"\n\nUn saluto,\n{colli.name}\n",
        )
        talk.say(
            sender=sara,
            to=[colli],
            days_ago=10,
            at="09:20",
            places=s_out,
            body="Sono compresi dieci utenti; gli altri costano 8 euro al mese ciascuno. Le "
            "mando il contratto da firmare." + sign_sara,
        )

        # Kessler: a pilot's kick-off, in English.
        kessler = self.person(
            self.deal_contact(self.open_deal(self.company("Kessler Maschinenbau GmbH")))
        )
        talk = Conversation(self, "Kick-off call for the pilot")
        talk.say(
            sender=kessler,
            to=[sara],
            days_ago=5,
            at="09:00",
            places=s_in,
            body="Hello Sara,\n\nwe are ready to start the pilot. Would Tuesday at 14:00 CET work "
            f"for the kick-off call?\n\nBest,\n{kessler.name}\n",
        )
        talk.say(
            sender=sara,
            to=[kessler],
            days_ago=5,
            at="11:15",
            places=s_out,
            body=f"Hello {kessler.first},\n\nTuesday at 14:00 works; I'll send the invitation "
            "with the agenda." + sign_sara,
        )

        # An organiser who put every exhibitor in To: over the recipient limit, so it is kept
        # as headers only, in the ledger as `too_many_recipients` (with "Import anyway").
        exhibitors = [
            Person(f"Espositore {n:03d}", f"info@espositore{n:03d}.example")
            for n in range(1, MASS_RECIPIENTS)
        ]
        Conversation(self, "Fiera della Subfornitura 2026: informazioni per gli espositori").say(
            sender=Person("Segreteria Expo", "segreteria@subfornitura-expo.example"),
            to=[sara, *exhibitors],
            days_ago=20,
            at="08:00",
            places=s_in,
            body="Gentili espositori,\n\nin allegato al portale trovate la planimetria e gli "
            "orari di allestimento. Il badge si ritira all'ingresso nord.\n\nLa segreteria\n",
        )
        return private.mid


# Attachments, made here so that the demo needs no binary files


def offer_pdf(product: str) -> bytes:
    """A one-page PDF offer (PDF 1.4, Helvetica, built by hand with a correct xref table)."""
    lines = ["Officine Brera S.r.l.", "Offerta n. 2026/118", f"Progetto: {product}"]
    text = "BT /F1 18 Tf 72 760 Td " + " 0 -28 Td ".join(
        "(" + line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") + ") Tj"
        for line in lines
    )
    stream = (text + " ET").encode("latin-1", errors="replace")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
        b"/Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def shop_floor_png(width: int = 160, height: int = 96) -> bytes:
    """A small PNG (a grey floor with a blue bench), so that the inline image shows something."""
    rows = []
    for y in range(height):
        row = bytearray([0])  # filter: none
        for x in range(width):
            bench = 40 <= x < 120 and 30 <= y < 60
            row += bytes((40, 90, 170) if bench else (200 - y // 2, 200 - y // 2, 195 - y // 2))
        rows.append(bytes(row))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"".join(rows), 9))
        + chunk(b"IEND", b"")
    )


def demo_mail_load(*, users: list[User], stages: list[Stage], today: date) -> dict:
    """Give Marco and Sara mailboxes full of demo mail (users: Giulia, Marco, Sara, Emma)."""
    return DemoMail(users=users, stages=stages, today=today).load()
