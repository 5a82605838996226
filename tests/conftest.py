"""Shared fixtures: a real Celery worker process, headless Chromium settings, factories.

Tests talk to the real parts: PostgreSQL and Redis, those of DATABASE_URL and REDIS_URL (CI sets
them; `make test` starts private ones when they are unset, prosperas/embedded.py). With CI set, a
missing browser fails the run instead of skipping.
"""

import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from django.conf import settings
from django.utils import translation

from prosperas.celery import app as celery_app

if TYPE_CHECKING:  # models load once pytest-django has set Django up
    from apps.lenders.models import Lender
    from apps.products.models import Product

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # live_server + Playwright's sync API
ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
IN_CI = bool(os.environ.get("CI"))


def _database_url() -> str:
    """The test database's URL, for the processes the tests start (a worker, a server)."""
    db = settings.DATABASES["default"]
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    if db["HOST"].startswith("/"):  # a Unix socket's folder (the private server of `make test`)
        return f"postgres://{db['USER']}{password}@/{db['HOST']}/{db['NAME']}"
    return f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture(scope="session", autouse=True)
def broker_isolation():
    """Redis keys of this test run's own (so runs sharing one Redis never take each other's tasks).

    Autouse and session-wide: it must be in place before any test publishes a task, or that
    task's connection pool would keep the shared queue's address.
    """
    prefix = f"prosperas-test-{uuid.uuid4().hex[:8]}:"
    celery_app.conf.broker_transport_options = {**celery_app.conf.broker_transport_options, "global_keyprefix": prefix}
    yield {"CELERY_BROKER_KEYPREFIX": prefix}


def start_worker(env_extra: dict, *, name: str, concurrency: int = 8, beat: bool = False,
                 queues: str = "lender_calls,default,origin_callbacks") -> subprocess.Popen:
    """A real `celery worker` process on the lender-call, default and callback queues, threads pool; with
    `beat`, running the periodic tasks too (embedded beat, as `make run` starts it)."""
    env = {**os.environ, **env_extra, "DATABASE_URL": _database_url(), "PYTHONUNBUFFERED": "1"}
    log = open(ROOT / "var" / f"{name}.log", "w")  # noqa: SIM115 - closed with the process
    beat_args = ["-B", "-s", str(ROOT / "var" / f"{name}-beat-schedule")] if beat else []
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "prosperas", "worker", "-Q", queues,
         "-P", "threads", "-c", str(concurrency), "-n", f"{name}@%h", "--without-gossip",
         "--without-mingle", "--without-heartbeat", "-l", "INFO", *beat_args],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"Celery worker exited at start; see var/{name}.log")
        if "ready." in (ROOT / "var" / f"{name}.log").read_text():
            return process
        time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"Celery worker did not become ready; see var/{name}.log")


def stop_worker(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture(autouse=True)
def content_types_read_afresh():
    """Content types as the database holds them now. A transactional test's flush deletes them and
    post_migrate makes them again under new ids, while ContentType's cache in this process keeps
    the old ones: the audit log (django-auditlog) then wrote entries pointing at ids that no
    longer exist (a foreign key violation in whichever test came next)."""
    from django.contrib.contenttypes.models import ContentType

    ContentType.objects.clear_cache()


@pytest.fixture(autouse=True)
def site_language():
    """Each test starts in the site's language, as a fresh thread does: a request's LocaleMiddleware
    leaves its language active in the thread, and translated model texts named without a suffix
    (factories' `title=`) are written in the active language."""
    translation.activate(settings.LANGUAGE_CODE)
    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def lender_connections_fresh():
    """Each test starts with no kept lender connection: the lender client keeps connections alive
    across calls, and a test's loopback server may listen on a port an earlier one used, whose
    old connection would still answer as the earlier server."""
    from apps.lenders.http import lender_connections_close

    lender_connections_close()


@pytest.fixture(autouse=True)
def page_fragments_fresh():
    """Each test renders the catalog's cards afresh: a card is kept rendered by its listing's and
    product's last change, which a test's queryset update() leaves as it was."""
    from django.core.cache import caches

    caches["fragments"].clear()


@pytest.fixture
def eager_tasks():
    """Tasks enqueued by the code under test run at once, in this process."""
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = False


@pytest.fixture
def celery_worker(broker_isolation, transactional_db):
    """A worker process for one test, seeing the test database (data must be committed)."""
    process = start_worker(broker_isolation, name=f"testworker-{uuid.uuid4().hex[:6]}")
    yield process
    stop_worker(process)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    if not Path(CHROMIUM).exists():
        message = f"{CHROMIUM} is missing: install Debian's chromium (.ci/run does)."
        pytest.fail(message) if IN_CI else pytest.skip(message)
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"],
    }


@pytest.fixture
def screenshot(page, request):
    """Call at the end of a browser test: saves its last page under test-artifacts/."""
    ARTIFACTS.mkdir(exist_ok=True)

    def take(suffix: str = "") -> Path:
        path = ARTIFACTS / f"{request.node.name}{suffix}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


# --- Sandbox lenders on pytest-django's live server (lender and engine tests) ----------------


@dataclass
class Sandbox:
    lender: "Lender"
    product: "Product"

    def script(self, failure_script: str, **knobs) -> None:
        """Set the sandbox lender's failure script (and other knobs) for the next calls."""
        from apps.sandbox.models import SandboxLenderSettings

        SandboxLenderSettings.objects.update_or_create(
            lender=self.lender, defaults={"failure_script": failure_script, **knobs}
        )


@pytest.fixture
def sandbox(live_server, transactional_db, broker_isolation) -> Sandbox:
    # broker_isolation: services called directly may enqueue on commit (journey_retry,
    # journey_details_submit); those messages go to this run's own keys or folder, never to a
    # shared broker, and the app's connection pool is made with the isolated options from the
    # start (a pool made before broker_isolation would keep publishing to the shared queue).
    from tests.factories import ProductFactory, sandbox_lender

    lender = sandbox_lender(server_url=live_server.url)
    return Sandbox(lender=lender, product=ProductFactory(lender=lender))


@pytest.fixture
def sandbox_of(live_server, transactional_db, broker_isolation):
    """make(style, **lender_fields): a sandbox lender of that API style, with its product."""
    from tests.factories import ProductFactory, styled_sandbox_lender

    def make(style: str, **fields) -> Sandbox:
        lender = styled_sandbox_lender(style=style, server_url=live_server.url, **fields)
        return Sandbox(lender=lender, product=ProductFactory(lender=lender))

    return make


@pytest.fixture
def kit_lender(live_server, transactional_db, broker_isolation):
    """make(style, **knobs): a sandbox lender of that style with its knobs set, ready for a
    conformance run on the live server: a product with a listing, a small profile (few timed
    calls, a short postback window) and quick pending answers. Shared by the conformance kit's
    tests and the lender portal's onboarding walk."""
    from apps.conformance.models import ConformanceProfile
    from apps.sandbox.models import SandboxLenderSettings
    from tests.factories import ListingFactory, ProductFactory, styled_sandbox_lender

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


# --- A broker that is down --------------------------------------------------------------------


@pytest.fixture
def broker_down(broker_isolation):
    """The app's broker is an address nothing listens on, for this test: every publish fails at
    once (no retries), as when Redis is down at the moment a transaction commits."""
    saved = {name: celery_app.conf[name] for name in ("broker_url", "broker_connection_retry", "task_publish_retry")}
    pools = (celery_app._pool, celery_app.amqp._producer_pool)
    celery_app.conf.update(broker_url="redis://127.0.0.1:9/0", broker_connection_retry=False, task_publish_retry=False)
    celery_app._pool = celery_app.amqp._producer_pool = None
    yield
    if celery_app._pool is not None:
        celery_app._pool.force_close_all()
    celery_app.conf.update(saved)
    celery_app._pool, celery_app.amqp._producer_pool = pools
