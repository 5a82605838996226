import base64
import json

import pytest
import redis
from django.conf import settings
from django.contrib.auth.models import Group


def _user_with_role(django_user_model, username: str, role: str | None):
    user = django_user_model.objects.create_user(username, f"{username}@prosperas.test", "pw-for-tests-only",
                                                 is_staff=True)
    if role:
        user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def with_role(django_user_model):
    return lambda username, role: _user_with_role(django_user_model, username, role)


@pytest.fixture
def queued(broker_isolation):
    """The tasks this test enqueues, read back from the broker (this run's own keys)."""
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    prefix = broker_isolation["CELERY_BROKER_KEYPREFIX"]

    def lists():
        return [key for key in client.scan_iter(match=prefix + "*") if client.type(key) == b"list"]

    for key in lists():
        client.delete(key)

    def read() -> list[tuple[str, dict]]:
        found = []
        for key in lists():
            for raw in client.lrange(key, 0, -1):
                message = json.loads(raw)
                _, kwargs, _ = json.loads(base64.b64decode(message["body"]))
                found.append((message["headers"]["task"], kwargs))
        return found

    return read
