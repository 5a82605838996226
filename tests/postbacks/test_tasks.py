"""The purge task (nonces, counted refusals), run by a real Celery worker process."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.lenders.models import PostbackNonce
from apps.postbacks.tasks import purge_expired_nonces
from tests.factories import LenderFactory
from tests.support import wait_until


@pytest.mark.worker
def test_the_purge_task_deletes_expired_nonces_on_a_real_worker(celery_worker, settings):
    lender = LenderFactory()
    expired = timezone.now() - timedelta(seconds=settings.POSTBACK_NONCE_RETENTION_SECONDS + 60)
    PostbackNonce.objects.create(lender=lender, nonce="expired-nonce", seen_at=expired)
    PostbackNonce.objects.create(lender=lender, nonce="fresh-nonce", seen_at=timezone.now())

    purge_expired_nonces.delay()

    wait_until(lambda: not PostbackNonce.objects.filter(nonce="expired-nonce").exists())
    assert PostbackNonce.objects.filter(nonce="fresh-nonce").exists()
