"""click_id_lookalike (what an unmatched click_id looks like) and the consumer's public timeline."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.postbacks.selectors import MANGLINGS, click_id_lookalike, lead_timeline_public, lookalike_sentence
from apps.postbacks.services import PostbackData, postback_ingest
from tests.factories import LeadFactory, LenderFactory, OriginFactory

UUID = "7e1c9f24-3b8a-4d21-9e77-2a0f1c6b5d3e"
PREFIXED = f"claro_{UUID}"


@pytest.fixture
def prefixed_lead(lender):
    return LeadFactory(listing__product__lender=lender, origin=OriginFactory(code="claro"), tracking_id=PREFIXED)


@pytest.fixture
def plain_lead(lender):
    return LeadFactory(listing__product__lender=lender, tracking_id=UUID)


@pytest.mark.parametrize(
    ("sent", "manglings"),
    [
        (PREFIXED.upper(), ["letter_case"]),
        (f"CLARO_{UUID}", ["letter_case"]),
        (f" {PREFIXED}", ["whitespace"]),
        (f"{PREFIXED}\n", ["whitespace"]),
        (f"{PREFIXED}\u00a0", ["unicode_normalized", "whitespace"]),
        (UUID, ["prefix_stripped"]),
        (UUID.upper(), ["letter_case", "prefix_stripped"]),
        (f"movistar_{UUID}", ["prefix_changed"]),
        (f"claro_{PREFIXED}", ["prefix_added"]),
        (PREFIXED[:24], ["truncated"]),
        (PREFIXED[:-1], ["truncated"]),
        (PREFIXED.replace("_", "%5F"), ["percent_encoded"]),
        (PREFIXED.replace("_", "%255F"), ["percent_encoded"]),
        (f"%20{PREFIXED}", ["percent_encoded", "whitespace"]),
        (PREFIXED.replace("7", "\uff17"), ["unicode_normalized"]),  # fullwidth digit seven
        (PREFIXED.replace("-", "\ufe63"), ["unicode_normalized"]),  # small hyphen-minus
    ],
    ids=["upper_case", "upper_prefix", "leading_space", "trailing_newline", "no_break_space", "prefix_stripped",
         "prefix_stripped_and_upper", "prefix_changed", "prefix_doubled", "truncated", "last_character_lost",
         "percent_encoded", "percent_encoded_twice", "encoded_space", "fullwidth_digit", "small_hyphen"],
)
def test_a_mangled_prefixed_click_id_is_explained(lender, prefixed_lead, sent, manglings):
    assert click_id_lookalike(lender=lender, click_id=sent) == manglings


@pytest.mark.parametrize(
    ("sent", "manglings"),
    [(UUID.upper(), ["letter_case"]), (f"claro_{UUID}", ["prefix_added"]), (f"lnd-{UUID}", ["prefix_added"]),
     (UUID[:20], ["truncated"]), (f"\t{UUID} ", ["whitespace"])],
    ids=["upper_case", "origin_prefix_added", "own_prefix_added", "truncated", "tabs_and_spaces"],
)
def test_a_mangled_plain_click_id_is_explained(lender, plain_lead, sent, manglings):
    assert click_id_lookalike(lender=lender, click_id=sent) == manglings


@pytest.mark.parametrize(
    ("sent", "manglings"),
    [
        (f"{PREFIXED}\u200b", ["invisible_characters"]),  # a zero-width space at the end
        (PREFIXED.replace("_", "_\u200b"), ["invisible_characters"]),  # ... in the middle
        (f"\u200b{PREFIXED}", ["invisible_characters"]),  # ... at the start: not a prefix added
        (f"\ufeff{PREFIXED}", ["invisible_characters"]),  # a byte-order mark
        (f"{{{PREFIXED}}}", ["wrapped_in_braces"]),
        (PREFIXED.replace("-", ""), ["dashes_removed"]),
        (UUID.replace("-", "").upper(), ["dashes_removed", "letter_case", "prefix_stripped"]),
    ],
    ids=["zero_width_end", "zero_width_middle", "zero_width_start", "byte_order_mark", "braces", "dashes_removed",
         "dashes_removed_upper_no_prefix"],
)
def test_invisible_characters_braces_and_removed_dashes_are_named_for_what_they_are(lender, prefixed_lead, sent,
                                                                                    manglings):
    assert click_id_lookalike(lender=lender, click_id=sent) == manglings
    assert PREFIXED not in lookalike_sentence(manglings)  # never the real ID


@pytest.mark.parametrize(
    "sent",
    ["7e1c9f24-3b8a-4d21-9e77-000000000000", "claro_7", "not-a-click-id-at-all", "", "%", "%zz", "_", "claro_"],
)
def test_a_click_id_like_none_of_the_lenders_is_not_explained(lender, prefixed_lead, sent):
    assert click_id_lookalike(lender=lender, click_id=sent) == []


def test_another_lenders_journey_is_never_suggested(lender, prefixed_lead):
    other = LenderFactory()
    assert click_id_lookalike(lender=other, click_id=PREFIXED.upper()) == []


def test_the_lookup_takes_a_bounded_number_of_queries(lender, prefixed_lead):
    for code in range(30):
        OriginFactory(code=f"carrier{code}")
    with CaptureQueriesContext(connection) as whole:
        click_id_lookalike(lender=lender, click_id=UUID.upper())
    with CaptureQueriesContext(connection) as truncated:
        click_id_lookalike(lender=lender, click_id=PREFIXED[:20])
    assert (len(whole), len(truncated)) == (2, 1)
    assert all("LIMIT" in query["sql"] for query in whole.captured_queries + truncated.captured_queries)


def test_the_sentence_names_each_mangling_and_is_empty_without_one():
    sentence = lookalike_sentence(["letter_case", "prefix_stripped"])
    assert MANGLINGS["letter_case"] in sentence and MANGLINGS["prefix_stripped"] in sentence
    assert "exactly as we sent it" in sentence
    assert lookalike_sentence([]) == ""


# --- The consumer's timeline ----------------------------------------------------------------------


def test_the_public_timeline_lists_the_statuses_that_moved_the_lead_oldest_first(lender, lead):
    now = timezone.now()

    def ingest(status, minutes_ago, **fields):
        postback_ingest(lender=lender, data=PostbackData(click_id=lead.tracking_id, status=status,
                                                         occurred_at=now - timedelta(minutes=minutes_ago), **fields),
                        raw_body=b"{}", headers={}, source_ip=None)

    ingest("approved", 30, amount=Decimal("1500000.00"), currency="COP", reason="internal note",
           lender_reference="APP-1")
    ingest("pre_approved", 40)  # late and lower: no change
    ingest("approved", 20)  # repeat
    ingest("disbursed", 10, amount=Decimal("1500000.00"), currency="COP")
    ingest("rejected", 5)  # contradicts

    entries = lead_timeline_public(lead)

    assert [(entry.status, entry.amount, entry.currency) for entry in entries] == [
        ("approved", Decimal("1500000.00"), "COP"), ("disbursed", Decimal("1500000.00"), "COP"),
    ]
    assert entries[0].occurred_at == now - timedelta(minutes=30)
    assert not hasattr(entries[0], "reason") and not hasattr(entries[0], "lender_reference")


def test_the_public_timeline_of_a_lead_without_postbacks_is_empty(lead):
    assert lead_timeline_public(lead) == []
