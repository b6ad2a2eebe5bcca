import pytest
from django.core.exceptions import ValidationError

from crm.addresses import normalize_domain, normalize_email, normalize_phone, split_values


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("  Bob@Acme.COM ", "bob@acme.com"),
        ("<bob@acme.com>", "bob@acme.com"),
        ("mailto:Bob@acme.com", "bob@acme.com"),
    ],
)
def test_emails_are_stored_lower_case_and_trimmed(raw, expected):
    assert normalize_email(raw) == expected


@pytest.mark.parametrize("raw", ["bob@", "@acme.com", "bob acme.com", "", "bob@@acme.com"])
def test_a_malformed_email_is_refused_with_the_value_named(raw):
    with pytest.raises(ValidationError):
        normalize_email(raw)


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("acme.com", "acme.com"),
        ("https://www.Acme.com/about?x=1", "acme.com"),
        ("shop.acme.co.uk.", "shop.acme.co.uk"),
        ("sales@acme.it", "acme.it"),
        ("pâtisserie.fr", "xn--ptisserie-b2a.fr"),
    ],
)
def test_domains_are_reduced_to_their_host(raw, expected):
    assert normalize_domain(raw) == expected


@pytest.mark.parametrize("raw", ["acme", "http://", "not a domain.com", "-acme.com"])
def test_a_malformed_domain_is_refused(raw):
    with pytest.raises(ValidationError):
        normalize_domain(raw)


def test_phone_numbers_are_tidied_but_kept_readable():
    assert normalize_phone("  +39  02 1234 5678 ") == "+39 02 1234 5678"
    with pytest.raises(ValidationError):
        normalize_phone("call me")


def test_a_box_of_addresses_splits_on_lines_commas_and_semicolons():
    assert split_values("a@x.com, b@x.com;\nc@x.com") == ["a@x.com", "b@x.com", "c@x.com"]
