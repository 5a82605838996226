"""System checks for postback settings that can be wrong."""

from django.conf import settings
from django.core.checks import Error, register


@register()
def postback_nonce_retention_check(app_configs, **kwargs) -> list[Error]:
    """A nonce must be remembered at least as long as a request carrying it can pass the timestamp
    check: up to the tolerance on either side of our clock (DESIGN.md §5: twice the tolerance)."""
    tolerance = settings.POSTBACK_TIMESTAMP_TOLERANCE_SECONDS
    if settings.POSTBACK_NONCE_RETENTION_SECONDS < 2 * tolerance:
        return [Error(
            "POSTBACK_NONCE_RETENTION_SECONDS is shorter than twice POSTBACK_TIMESTAMP_TOLERANCE_SECONDS: "
            "a replayed postback could pass once its nonce is forgotten.",
            id="postbacks.E001",
        )]
    return []


@register()
def postback_follow_up_interval_check(app_configs, **kwargs) -> list[Error]:
    """Beat runs the postbacks' follow-ups (emails, result charges) at this interval: it must be a
    positive number of seconds, and a long one leaves consumers waiting for their email."""
    interval = settings.POSTBACK_FOLLOW_UP_INTERVAL_SECONDS
    if not 0 < interval <= 60:
        return [Error(
            f"POSTBACK_FOLLOW_UP_INTERVAL_SECONDS is {interval}: it must be more than 0 and at most 60 seconds.",
            id="postbacks.E002",
        )]
    return []
