"""Admin lists at size: a paginator that never counts a large table whole.

Django's changelist counts the filtered rows (for the pages) and, unless
`show_full_result_count = False`, the whole table too: on millions of leads, lender calls or
postback events each COUNT(*) reads the table. EstimatedCountPaginator counts exactly up to
EXACT_LIMIT rows (a count over a LIMIT subquery stops there) and past that takes PostgreSQL's
planner estimate, so the page numbers are approximate only where nobody pages to the end.

Use it with LargeTableAdminMixin (below), which also turns the full count off.
"""

from __future__ import annotations

import json

from django.core.paginator import Paginator
from django.db import connections
from django.utils.functional import cached_property

EXACT_LIMIT = 10_000


def planner_estimate(queryset) -> int:
    """The planner's row estimate for `queryset` (EXPLAIN, never run): what the statistics say."""
    sql, params = queryset.order_by().query.sql_with_params()
    with connections[queryset.db].cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        (plan,) = cursor.fetchone()
    plan = json.loads(plan) if isinstance(plan, str) else plan
    return int(plan[0]["Plan"]["Plan Rows"])


class EstimatedCountPaginator(Paginator):
    exact_limit = EXACT_LIMIT

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if not hasattr(queryset, "query"):  # a list: its length
            return len(queryset)
        bounded = queryset.order_by()[: self.exact_limit + 1].count()
        if bounded <= self.exact_limit:
            return bounded
        return max(self.exact_limit + 1, planner_estimate(queryset))


class LargeTableAdminMixin:
    """For admin lists of tables that grow without bound: estimated count past EXACT_LIMIT rows, no
    full-table count beside the filtered one."""

    paginator = EstimatedCountPaginator
    show_full_result_count = False
