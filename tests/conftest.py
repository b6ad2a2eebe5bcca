"""The cast every test shares, as in healthchecks: Alice is a rep, Bob is on Alice's team, Mallory
manages that team, and Charlie works on another team and must see nothing of theirs."""

import pytest
from django.utils import translation

from tests.factories import TeamFactory, UserFactory

# The real mail servers (Dovecot, SMTP) of tests/support, for the browser tests too.
pytest_plugins = ["tests.support.fixtures"]


@pytest.fixture(autouse=True)
def english():
    """Each test starts in English: a request in Italian leaves that language active."""
    translation.activate("en")
    yield
    translation.deactivate()


@pytest.fixture
def team(db):
    return TeamFactory(name="Sales North")


@pytest.fixture
def alice(team):
    return UserFactory(username="alice", email="alice@ourco.example", first_name="Alice", team=team)


@pytest.fixture
def bob(team):
    return UserFactory(username="bob", email="bob@ourco.example", first_name="Bob", team=team)


@pytest.fixture
def mallory(team):
    return UserFactory(
        username="mallory",
        email="mallory@ourco.example",
        first_name="Mallory",
        team=team,
        role="manager",
    )


@pytest.fixture
def charlie(db):
    other = TeamFactory(name="Sales South")
    return UserFactory(
        username="charlie", email="charlie@ourco.example", first_name="Charlie", team=other
    )


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice)
    return client


@pytest.fixture
def charlie_client(client, charlie):
    client.force_login(charlie)
    return client
