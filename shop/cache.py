"""A Redis cache that steps aside while Redis is down or slow.

Redis is optional: it shares the rate limits' counters between processes. When
it stops answering (refused, or slower than its socket timeouts), this cache
counts in the process's own memory instead, as the shop does with no Redis at
all, tries Redis again after ``RETRY_SECONDS``, and logs the outage at most once
a minute rather than on every request.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from django.core.cache.backends.base import BaseCache
from django.core.cache.backends.locmem import LocMemCache
from django_redis.cache import RedisCache
from redis.exceptions import ConnectionError, TimeoutError

logger = logging.getLogger(__name__)

REDIS_DOWN = (ConnectionError, TimeoutError)
RETRY_SECONDS = 15.0
LOG_EVERY_SECONDS = 60.0


class Outage:
    """When Redis may be tried again, shared by every thread of a process."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.retry_at = 0.0
        self.logged_at = -LOG_EVERY_SECONDS

    def began(self, location: str, error: Exception) -> None:
        now = time.monotonic()
        with self.lock:
            self.retry_at = now + RETRY_SECONDS
            if now - self.logged_at >= LOG_EVERY_SECONDS:
                self.logged_at = now
                logger.warning(
                    "Redis at %s is not answering (%s: %s); counting rate limits "
                    "in this process until it does.",
                    location,
                    type(error).__name__,
                    error,
                )

    def ongoing(self) -> bool:
        return time.monotonic() < self.retry_at


# Django makes a cache object per thread; the outage is the process's.
OUTAGES: dict[str, Outage] = {}


class RedisOrMemoryCache(BaseCache):
    """django-redis's cache while Redis answers; this process's memory while not."""

    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(params)
        self.location = server
        self.redis = RedisCache(server, params)
        self.memory = LocMemCache(f"redis-fallback:{server}", params)
        self.outage = OUTAGES.setdefault(server, Outage())

    def _run(self, operation: str, *args: Any, **kwargs: Any) -> Any:
        if not self.outage.ongoing():
            try:
                return getattr(self.redis, operation)(*args, **kwargs)
            except REDIS_DOWN as error:
                self.outage.began(self.location, error)
        return getattr(self.memory, operation)(*args, **kwargs)

    def add(self, *args: Any, **kwargs: Any) -> bool:
        return self._run("add", *args, **kwargs)

    def get(self, *args: Any, **kwargs: Any) -> Any:
        return self._run("get", *args, **kwargs)

    def set(self, *args: Any, **kwargs: Any) -> None:
        return self._run("set", *args, **kwargs)

    def touch(self, *args: Any, **kwargs: Any) -> bool:
        return self._run("touch", *args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> bool:
        return self._run("delete", *args, **kwargs)

    def get_many(self, *args: Any, **kwargs: Any) -> dict:
        return self._run("get_many", *args, **kwargs)

    def set_many(self, *args: Any, **kwargs: Any) -> list:
        return self._run("set_many", *args, **kwargs)

    def delete_many(self, *args: Any, **kwargs: Any) -> None:
        return self._run("delete_many", *args, **kwargs)

    def has_key(self, *args: Any, **kwargs: Any) -> bool:
        return self._run("has_key", *args, **kwargs)

    def incr(self, *args: Any, **kwargs: Any) -> int:
        return self._run("incr", *args, **kwargs)

    def decr(self, *args: Any, **kwargs: Any) -> int:
        return self._run("decr", *args, **kwargs)

    def clear(self) -> None:
        self.memory.clear()
        return self._run("clear")

    def close(self, **kwargs: Any) -> None:
        self.redis.close(**kwargs)
