"""Fixtures for lender tests: a sandbox lender on pytest-django's live server."""

from dataclasses import dataclass

import pytest

from apps.lenders.models import Lender
from apps.products.models import Product
from apps.sandbox.models import SandboxLenderSettings
from apps.sandbox.styles import sandbox_styles
from tests.factories import ProductFactory, sandbox_lender, styled_sandbox_lender

# Every registered API style (apps/lenders/adapters/__init__.py), each with its sandbox lender:
# the adapter contract tests run over all of them.
STYLES = tuple(sandbox_styles())


@dataclass
class Sandbox:
    lender: Lender
    product: Product

    def script(self, failure_script: str, **knobs) -> None:
        """Set the sandbox lender's failure script (and other knobs) for the next calls."""
        SandboxLenderSettings.objects.update_or_create(
            lender=self.lender, defaults={"failure_script": failure_script, **knobs}
        )


@pytest.fixture
def sandbox(live_server, transactional_db, broker_isolation) -> Sandbox:
    # broker_isolation: services called directly may enqueue on commit (journey_retry,
    # journey_details_submit); those messages go to this run's own keys or folder, never to a
    # shared broker, and the app's connection pool is made with the isolated options from the
    # start (a pool made before broker_isolation would keep publishing to the shared queue).
    lender = sandbox_lender(server_url=live_server.url)
    return Sandbox(lender=lender, product=ProductFactory(lender=lender))


@pytest.fixture
def sandbox_of(live_server, transactional_db, broker_isolation):
    """make(style, **lender_fields): a sandbox lender of that API style, with its product."""

    def make(style: str, **fields) -> Sandbox:
        lender = styled_sandbox_lender(style=style, server_url=live_server.url, **fields)
        return Sandbox(lender=lender, product=ProductFactory(lender=lender))

    return make
