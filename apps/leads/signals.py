"""`lead_changed`: sent once a change to a journey that announces its changes
(Lead.announces_changes: an origin's API lead) is committed, with the lead's id only.

Apps above leads that follow journeys (the origins' API sends its callbacks from it) connect a
receiver in their AppConfig.ready; leads cannot import them (the layering of DESIGN.md §2), so a
signal is how the news goes up. Receivers only enqueue work: the change itself is done by then.
"""

from __future__ import annotations

from django.db import transaction
from django.dispatch import Signal

lead_changed = Signal()  # kwargs: lead_id


def lead_changed_on_commit(lead) -> None:
    """Send lead_changed when the current transaction commits (at once outside one), if the lead
    announces its changes; a hosted-flow journey costs nothing. Robust: a receiver that fails
    (its broker down) must not undo or hide the change; receivers keep their own sweeps."""
    if lead.announces_changes:
        lead_id = lead.pk
        transaction.on_commit(lambda: lead_changed.send_robust(sender=None, lead_id=lead_id), robust=True)
