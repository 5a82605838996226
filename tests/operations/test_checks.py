"""The deployment checks of /metrics' configuration."""

from prosperas.checks import check_metrics_configuration


def test_production_without_a_metrics_folder_or_any_allowed_scraper_is_warned(settings):
    settings.DEBUG, settings.TESTING = False, False
    settings.PROMETHEUS_MULTIPROC_DIR, settings.METRICS_TOKEN, settings.METRICS_ALLOWED_NETWORKS = "", "", []

    assert [warning.id for warning in check_metrics_configuration(None)] == ["prosperas.W004", "prosperas.W005"]

    settings.PROMETHEUS_MULTIPROC_DIR, settings.METRICS_TOKEN = "/run/prosperas-metrics", "a-token"
    assert check_metrics_configuration(None) == []
