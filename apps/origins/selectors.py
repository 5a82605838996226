from apps.origins.models import Origin


def origin_get_active(*, code: str) -> Origin | None:
    return Origin.objects.filter(code=code, is_active=True).first()


def origin_list_active():
    return Origin.objects.filter(is_active=True).order_by("name")
