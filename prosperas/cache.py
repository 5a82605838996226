"""Django's Redis cache, with one Redis client per connection pool instead of one per operation.

Django's RedisCacheClient wraps its connection pool in a new redis.Redis for every cache
operation. Building one (its table of reply parsers) cost a quarter of a millisecond in a
profile of postbacks, whose rate limits make one operation a request, and the flow's forms make
three per limit (django-ratelimit). A client is a thin, thread-safe face on its pool, and the pool
reconnects by itself after a fork, so each pool's first client serves every later operation.
"""

from __future__ import annotations

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient


class ReusedRedisCacheClient(RedisCacheClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients: dict[int, object] = {}  # by pool index, as Django's _pools

    def get_client(self, key=None, *, write=False):
        index = self._get_connection_pool_index(write)
        client = self._clients.get(index)
        if client is None:
            client = self._clients.setdefault(index, self._client(connection_pool=self._get_connection_pool(write)))
        return client


class RedisCache(DjangoRedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = ReusedRedisCacheClient
