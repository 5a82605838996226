"""The leads table's hot statements for postbacks (apps/leads/rows.py), called directly."""

from datetime import UTC, datetime, timedelta

from django.utils import timezone

from apps.leads.models import Lead, LeadStatus
from apps.leads.rows import lead_postback_apply, lead_postback_move_ctes, lead_postback_params, lead_postback_preview
from prosperas.sql import fetch_one
from tests.factories import LeadFactory

EARLIER = datetime(2026, 6, 3, 12, 0, tzinfo=UTC)


def test_apply_moves_the_lead_up_the_ladder_and_sets_the_clock(db):
    lead = LeadFactory(status=LeadStatus.HANDED_OFF)
    move = lead_postback_apply(lender_id=lead.lender_id, tracking_id=lead.tracking_id, incoming="approved",
                               occurred_at=EARLIER)
    lead.refresh_from_db()
    assert (move.lead_id, move.effect, move.status) == (lead.pk, "applied", "approved")
    assert (lead.status, lead.lender_status_at, lead.needs_review) == ("approved", EARLIER, False)


def test_apply_never_moves_a_lead_backwards_and_flags_a_contradiction(db):
    lead = LeadFactory(status=LeadStatus.DISBURSED, lender_status_at=EARLIER)
    older = lead_postback_apply(lender_id=lead.lender_id, tracking_id=lead.tracking_id, incoming="approved",
                                occurred_at=EARLIER - timedelta(days=1))
    cancelled = lead_postback_apply(lender_id=lead.lender_id, tracking_id=lead.tracking_id, incoming="cancelled",
                                    occurred_at=EARLIER + timedelta(days=1))
    lead.refresh_from_db()
    assert (older.effect, cancelled.effect) == ("no_change", "contradicts")
    assert (lead.status, lead.lender_status_at, lead.needs_review) == ("disbursed", EARLIER, True)


def test_apply_matches_the_tracking_id_of_that_lender_exactly(db):
    lead = LeadFactory(status=LeadStatus.HANDED_OFF)
    other = LeadFactory(status=LeadStatus.HANDED_OFF)
    assert lead_postback_apply(lender_id=lead.lender_id, tracking_id=lead.tracking_id.upper(), incoming="approved",
                               occurred_at=EARLIER) is None
    assert lead_postback_apply(lender_id=other.lender_id, tracking_id=lead.tracking_id, incoming="approved",
                               occurred_at=EARLIER) is None
    assert Lead.objects.get(pk=lead.pk).status == LeadStatus.HANDED_OFF


def test_preview_decides_as_apply_and_writes_nothing(db, django_assert_num_queries):
    lead = LeadFactory(status=LeadStatus.APPROVED, lender_status_at=EARLIER)
    before = Lead.objects.values().get(pk=lead.pk)
    with django_assert_num_queries(1):
        preview = lead_postback_preview(lender_id=lead.lender_id, tracking_id=lead.tracking_id, incoming="rejected",
                                        occurred_at=EARLIER - timedelta(hours=1))
    assert (preview.effect, preview.status_before, preview.status) == ("contradicts", "approved", "approved")
    assert Lead.objects.values().get(pk=lead.pk) == before
    applied = lead_postback_preview(lender_id=lead.lender_id, tracking_id=lead.tracking_id, incoming="disbursed",
                                    occurred_at=EARLIER)
    assert (applied.effect, applied.status) == ("applied", "disbursed")
    assert lead_postback_preview(lender_id=lead.lender_id, tracking_id="nobody", incoming="approved",
                                 occurred_at=EARLIER) is None


def _moved_with(lead, *, guard_rows: int) -> tuple:
    guard = "SELECT 1 WHERE false" if guard_rows == 0 else "SELECT 1"
    sql = (f"WITH guard AS ({guard}), {lead_postback_move_ctes('approved', guard='guard')} "
           "SELECT (SELECT count(*) FROM seen), (SELECT status FROM moved), (SELECT applied FROM moved)")
    params = lead_postback_params(lender_id=lead.lender_id, tracking_id=lead.tracking_id, incoming="approved",
                                  occurred_at=EARLIER, now=timezone.now())
    return fetch_one(sql, params)


def test_the_move_ctes_move_the_lead_they_saw_when_the_guard_has_a_row(db):
    lead = LeadFactory(status=LeadStatus.PRE_APPROVED)
    assert _moved_with(lead, guard_rows=1) == (1, "approved", True)
    assert Lead.objects.get(pk=lead.pk).status == LeadStatus.APPROVED


def test_the_move_ctes_write_nothing_when_the_guard_is_empty(db):
    lead = LeadFactory(status=LeadStatus.PRE_APPROVED)
    assert _moved_with(lead, guard_rows=0) == (1, None, None)
    assert Lead.objects.get(pk=lead.pk).status == LeadStatus.PRE_APPROVED
