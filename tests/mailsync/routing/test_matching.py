"""matching.decide(): which records a message belongs to. Pure: no database."""

from mailsync.routing.matching import (
    ADDRESS,
    CHOSEN,
    DOMAIN,
    ONLY_OPEN_DEAL,
    THREAD,
    Directory,
    Ref,
    ThreadState,
    decide,
    free_mail_domains,
)

ANN = Ref("contact", 1)
BEA = Ref("contact", 2)
LEO = Ref("lead", 7)
ACME = Ref("company", 10)


def directory(**kwargs) -> Directory:
    base = {
        "by_address": {"ann@acme.com": [ANN], "bea@gmail.com": [BEA], "leo@startup.io": [LEO]},
        "by_domain": {"acme.com": [ACME], "gmail.com": [Ref("company", 99)]},
        "company_of": {ANN: 10},
        "ignored": frozenset({"alice@ourco.example", "bob@ourco.example"}),
    }
    base.update(kwargs)
    return Directory(**base)


def test_exact_addresses_match_leads_and_contacts_and_the_contacts_company():
    decision = decide(["ann@acme.com", "leo@startup.io"], directory(), ThreadState())
    assert decision.links == {ANN: ADDRESS, ACME: ADDRESS, LEO: ADDRESS}
    assert decision.unmatched == []


def test_no_substring_matching():
    decision = decide(["jimann@acme.com.au"], directory(), ThreadState())
    assert decision.links == {} and decision.unmatched == ["jimann@acme.com.au"]


def test_companies_match_by_domain_but_never_a_free_mail_domain():
    assert decide(["new.person@acme.com"], directory(), ThreadState()).links == {ACME: DOMAIN}
    decision = decide(["bea@gmail.com"], directory(), ThreadState())
    assert decision.links == {BEA: ADDRESS}  # not the "gmail.com" company
    assert {"gmail.com", "libero.it", "virgilio.it", "tiscali.it"} <= free_mail_domains()


def test_our_own_and_teammates_addresses_are_ignored():
    decision = decide(["alice@ourco.example", "bob@ourco.example"], directory(), ThreadState())
    assert decision.links == {} and decision.unmatched == []
    # ...and so is our own domain, even if a company record carries it.
    ours = directory(by_domain={"ourco.example": [Ref("company", 5)]})
    assert decide(["carol@ourco.example"], ours, ThreadState()).links == {}


def test_a_contact_with_exactly_one_open_deal_links_to_it():
    d = directory(open_deals_of={ANN: [50]})
    assert decide(["ann@acme.com"], d, ThreadState()).links[Ref("deal", 50)] == ONLY_OPEN_DEAL


def test_several_open_deals_ask_the_rep_instead_of_guessing():
    d = directory(open_deals_of={ANN: [50, 51]})
    decision = decide(["ann@acme.com"], d, ThreadState())
    assert not any(ref.kind == "deal" for ref in decision.links)
    assert decision.deal_choices == [50, 51]


def test_a_thread_already_on_a_deal_stays_on_it():
    d = directory(open_deals_of={ANN: [50, 51]})
    decision = decide(["ann@acme.com"], d, ThreadState(deals={51}))
    assert decision.links[Ref("deal", 51)] == THREAD and decision.deal_choices == []


def test_a_chosen_deal_holds_for_the_thread():
    d = directory(open_deals_of={ANN: [50, 51]})
    decision = decide(["ann@acme.com"], d, ThreadState(chosen_deal=50, deals={50}))
    assert decision.links[Ref("deal", 50)] == CHOSEN and Ref("deal", 51) not in decision.links


def test_a_removed_link_stays_removed_whatever_matches():
    d = directory(open_deals_of={ANN: [50]})
    removed = ThreadState(removed={ANN, Ref("deal", 50)})
    decision = decide(["ann@acme.com"], d, removed)
    assert ANN not in decision.links and Ref("deal", 50) not in decision.links
    assert decision.links == {ACME: ADDRESS}


def test_removing_one_of_two_open_deals_leaves_the_other():
    d = directory(open_deals_of={ANN: [50, 51]})
    decision = decide(["ann@acme.com"], d, ThreadState(removed={Ref("deal", 50)}))
    assert decision.links[Ref("deal", 51)] == ONLY_OPEN_DEAL


def test_reply_prefixes_in_several_languages():
    from mailsync.routing.matching import is_reply, subject_key

    for subject in [
        "Re: Quote",
        "RE: re: Quote",
        "R: Quote",
        "RIF: Quote",
        "I: Quote",
        "AW: Quote",
        "Re[2]: Quote",
        "Fwd: Quote",
    ]:
        assert is_reply(subject), subject
        assert subject_key(subject) == "quote"
    assert not is_reply("Quote for Rex") and not is_reply("Invoice: March")
    assert subject_key("  Quote   for\tACME ") == "quote for acme"
