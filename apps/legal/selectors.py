from apps.legal.models import DataController


def data_controller_get() -> DataController | None:
    """The controller staff set in admin (Legal › Data controller); None until they do."""
    return DataController.objects.filter(pk=1).first()
