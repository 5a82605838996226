"""Admin lists at size: counts bounded (exact up to a limit, the planner's estimate past it), no
full-table count, and tracking-ID searches that are exact (and so hit the unique index)."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from apps.leads.models import Lead
from prosperas.admin_paging import EstimatedCountPaginator, planner_estimate
from tests.factories import LeadFactory, LenderFactory

pytestmark = pytest.mark.django_db


class SmallLimit(EstimatedCountPaginator):
    exact_limit = 3


def test_up_to_the_limit_the_count_is_exact():
    LeadFactory.create_batch(3)
    assert SmallLimit(Lead.objects.all(), 2).count == 3


def test_past_the_limit_the_count_is_the_planners_estimate_and_at_least_the_limit():
    LeadFactory.create_batch(5)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE leads_lead")

    count = SmallLimit(Lead.objects.all(), 2).count

    assert count >= 4
    assert count == max(4, planner_estimate(Lead.objects.all()))


def _counts(queries) -> list[str]:
    return [query["sql"] for query in queries if re.search(r"COUNT\(", query["sql"], re.I)]


@pytest.mark.parametrize("url", ["admin:leads_lead_changelist", "admin:lenders_lendercall_changelist",
                                 "admin:postbacks_postbackevent_changelist"])
def test_the_large_lists_never_count_a_whole_table(admin_client, url):
    lender = LenderFactory()
    LeadFactory.create_batch(2, lender=lender)

    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get(reverse(url), {"lender__id__exact": lender.pk})

    assert response.status_code == 200
    counts = _counts(queries.captured_queries)
    assert counts and all("LIMIT" in sql for sql in counts), counts


def test_the_tracking_id_search_is_exact_and_uses_the_unique_index(admin_client):
    lead = LeadFactory(tracking_id="movil_3f2a6c1e-0d4b-4c8e-9a57-2b1f0e6d9c84")
    LeadFactory()

    found = admin_client.get(reverse("admin:leads_lead_changelist"), {"q": lead.tracking_id}).content.decode()
    upper = admin_client.get(reverse("admin:leads_lead_changelist"), {"q": lead.tracking_id.upper()}).content.decode()

    assert f"/admin/leads/lead/{lead.pk}/change/" in found
    assert f"/admin/leads/lead/{lead.pk}/change/" not in upper  # opaque: never re-cased (DESIGN.md §3)
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")  # a tiny table: ask whether an index *can* answer
        cursor.execute("EXPLAIN SELECT id FROM leads_lead WHERE tracking_id = %s OR lender_reference = %s",
                       [lead.tracking_id, lead.tracking_id])
        plan = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("RESET enable_seqscan")
    assert "lead_tracking_id_unique" in plan and "lead_lender_reference" in plan
