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
    if not lead.announces_changes:
        return
    connection = transaction.get_connection()
    # Once per lead and transaction: a step that adds several timeline entries is one change.
    if connection.in_atomic_block and any(getattr(func, "lead_changed_id", None) == lead.pk
                                          for _savepoints, func, _robust in connection.run_on_commit):
        return
    lead_id = lead.pk

    def send() -> None:
        lead_changed.send_robust(sender=None, lead_id=lead_id)

    send.lead_changed_id = lead_id
    transaction.on_commit(send, robust=True)
