"""{% operations_heartbeats as beats %}: the worker and beat heartbeats, for the admin's index."""

from django import template

from apps.operations import heartbeats

register = template.Library()


@register.simple_tag
def operations_heartbeats() -> dict:
    """{"beats": [Heartbeat ...], "error": ""}; Redis away is said, not raised: the admin still works."""
    try:
        return {"beats": heartbeats.heartbeats(), "error": ""}
    except Exception as exc:
        return {"beats": [], "error": type(exc).__name__}
