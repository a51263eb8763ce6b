"""The channel layer's Redis pool when a whole class connects at once (labapp/channel_layer.py)."""

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest
from channels_redis.core import RedisChannelLayer
from redis.exceptions import ConnectionError as RedisConnectionError

from labapp.channel_layer import PooledRedisChannelLayer


async def _join_at_once(layer, sockets: int) -> None:
    channels = [await layer.new_channel() for _ in range(sockets)]
    try:
        await asyncio.gather(*(layer.group_add("run.1", channel) for channel in channels))
    finally:
        await layer.flush()


def _run(coroutine):
    """asyncio.run in a thread of its own: a browser test earlier in this process (Playwright's
    sync API) leaves an event loop running in the main thread."""
    with ThreadPoolExecutor(1) as thread:
        return thread.submit(asyncio.run, coroutine).result()


def test_it_makes_a_burst_of_joins_wait_for_a_connection_instead_of_failing(test_redis):
    hosts = [{"address": test_redis.url, "max_connections": 4, "timeout": 10}]
    _run(_join_at_once(PooledRedisChannelLayer(hosts=hosts), 60))  # no MaxConnectionsError

    # what channels-redis does on its own with the same limit: the burst fails
    plain = [{"address": test_redis.url, "max_connections": 4}]
    with pytest.raises(RedisConnectionError, match="Too many connections"):
        _run(_join_at_once(RedisChannelLayer(hosts=plain), 60))
