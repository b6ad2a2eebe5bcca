"""What the mail tests share: trust in the test CA, a rep's mail account on the test Dovecot, and
a contact at a company to put mail on. The servers themselves are in tests/support/fixtures.py."""

import pytest

from tests.factories import MailAccountFactory, ann_at_acme


@pytest.fixture(autouse=True)
def trust_the_test_ca(settings, mail_ca):
    """The operator's CA bundle: the test CA stands in for a company's own authority."""
    settings.MAILSYNC_CA_FILE = str(mail_ca.ca_file)
    settings.MAILSYNC_TIMEOUT = 5


@pytest.fixture
def account(dovecot, mail_user, alice):
    """Alice's mailbox on the test Dovecot, a year of history, sharing in full."""
    return MailAccountFactory(user=alice, dovecot=dovecot, mail_user=mail_user)


@pytest.fixture
def ann(alice):
    """Ann at Acme (acme.com), one of Alice's contacts."""
    return ann_at_acme(alice)
