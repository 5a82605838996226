"""Retention settings that would make the purge do something nobody meant."""

from django.conf import settings
from django.core.checks import Error, register


@register()
def retention_settings_check(app_configs, **kwargs) -> list[Error]:
    errors = []
    for kind, days in settings.RETENTION_DAYS.items():
        if not isinstance(days, int) or days < 0:
            errors.append(Error(f"RETENTION_DAYS[{kind!r}] is {days!r}: a whole number of days, 0 to keep for ever.",
                                id="lifecycle.E001"))
    if settings.RETENTION_BATCH_SIZE < 1:
        errors.append(Error("RETENTION_BATCH_SIZE must be at least 1.", id="lifecycle.E002"))
    if not 0 <= settings.RETENTION_PURGE_HOUR <= 23:
        errors.append(Error("RETENTION_PURGE_HOUR must be an hour of the day, 0-23.", id="lifecycle.E003"))
    return errors
