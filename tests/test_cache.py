"""The platform's cache (prosperas/cache.py): Django's Redis cache with one client per pool."""

import os

from django.core.cache import caches

from prosperas.cache import RedisCache


def test_every_operation_of_a_cache_uses_the_same_redis_client():
    cache = caches["default"]
    assert isinstance(cache, RedisCache)
    client = cache._cache.get_client(write=True)
    cache.set("cache-test:reused", 1, 30)
    assert cache.incr("cache-test:reused") == 2
    assert cache.get("cache-test:reused") == 2
    assert cache._cache.get_client(write=True) is client
    assert cache._cache.get_client() is client  # one server: reads go to the same pool
    cache.delete("cache-test:reused")


def test_a_forked_child_uses_the_kept_client_on_connections_of_its_own():
    cache = caches["default"]
    cache.set("cache-test:forked", "parent", 30)  # the parent holds a connection now
    child = os.fork()
    if child == 0:  # the child: a new connection (redis-py's pool notices the new process)
        try:
            cache.set("cache-test:forked", "child", 30)
            os._exit(0 if cache.get("cache-test:forked") == "child" else 1)
        except BaseException:  # noqa: BLE001 - any failure is the child's exit status
            os._exit(2)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert cache.get("cache-test:forked") == "child"  # and the parent's connection still answers
    cache.delete("cache-test:forked")
