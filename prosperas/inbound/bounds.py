"""The sane window of every date and number that comes from outside (DESIGN.md §5: "Dates from
outside are bounded to a sane window (400 otherwise)"), declared once for every inbound path:
postbacks and their tester, product data, lender callbacks and answers, the consumer's forms.

Why bounds at all: a value the database accepts is not always one a page can show. PostgreSQL
stores `0001-01-01T00:00:00+05:30` as a date before Christ, which Python cannot read back, and
every page listing it then failed; a number past a column's range fails the INSERT itself. So
each value is refused at the door, with a message naming the window, long before either.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

# Moments (occurred_at and the like): nothing a lender reports happened before Prosperas or its
# lenders existed, and nothing happens in the future beyond the clock tolerance of signed requests.
EARLIEST_MOMENT = datetime(2000, 1, 1, tzinfo=UTC)
EARLIEST_MOMENT_TEXT = "2000-01-01T00:00:00Z"

# Money, in the currency's units: 12 digits before the point, 2 after (the money columns are
# numeric(14, 2)); a trillion pesos is already far beyond any consumer credit.
AMOUNT_MAX_UNIT_DIGITS = 12
MAX_AMOUNT = Decimal("999999999999.99")
# A consumer's monthly income and requested amount, whole pesos: above this it was mistyped.
MAX_MONTHLY_INCOME = 10_000_000_000
MAX_REQUESTED_AMOUNT = MAX_MONTHLY_INCOME
# Terms and rates: 50 years, and an effective annual rate under 10,000 % (a unit mistake above).
MAX_TERM_MONTHS = 600
MAX_ANNUAL_RATE = Decimal("100")
# Birth dates: a living adult, born at most this many years ago.
OLDEST_AGE_YEARS = 110


def moment_problem(moment: datetime, *, ahead_seconds: float, now: datetime) -> str | None:
    """Why an aware `moment` is outside the window, as an error code: "too_old" (before
    EARLIEST_MOMENT), "future" (more than `ahead_seconds` after `now`); None when inside it.

    A moment within hours of year 1 or year 9999 cannot even be converted to UTC (OverflowError):
    it is judged by its year, which is certainly outside the window."""
    try:
        if moment < EARLIEST_MOMENT:
            return "too_old"
        if moment - now > timedelta(seconds=ahead_seconds):
            return "future"
    except OverflowError:
        return "too_old" if moment.year < EARLIEST_MOMENT.year else "future"
    return None

