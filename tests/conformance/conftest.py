"""A sandbox lender of any style ready for the conformance kit, on the live server: a product with
a listing, a small profile (few timed calls, a short postback window) and quick pending answers."""

import pytest
from django.conf import settings

from apps.conformance.models import ConformanceProfile
from apps.sandbox.models import SandboxLenderSettings
from tests.factories import ListingFactory, ProductFactory, styled_sandbox_lender


@pytest.fixture
def kit_lender(live_server, transactional_db, broker_isolation):
    """make(style, **knobs): a sandbox lender of that style with its knobs set, ready for a run."""
    saved = settings.SITE_URL
    settings.SITE_URL = live_server.url  # postbacks, the sandbox's trigger and callbacks go to the live server

    def make(style: str = "embedded", **knobs):
        lender = styled_sandbox_lender(style=style, server_url=live_server.url, pending_timeout_seconds=10)
        ListingFactory(product=ProductFactory(lender=lender))
        SandboxLenderSettings.objects.update_or_create(lender=lender, defaults={"pending_seconds": 1, **knobs})
        ConformanceProfile.objects.create(lender=lender, latency_calls=3, postback_window_seconds=4)
        return lender

    yield make
    settings.SITE_URL = saved
