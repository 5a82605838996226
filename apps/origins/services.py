import uuid

from apps.origins.models import Origin


def tracking_id_mint(*, origin: Origin) -> str:
    """A new tracking ID: a UUID4, or `<origin code>_<UUID4>` for origins configured so.

    From here on the value is opaque: stored, compared and sent exactly as returned.
    """
    value = str(uuid.uuid4())
    if origin.prefix_tracking_ids:
        return f"{origin.code}_{value}"
    return value
