"""channels-redis with a blocking Redis connection pool.

channels-redis builds a plain ``redis.asyncio.ConnectionPool`` from each host's options; once
its ``max_connections`` are in use, the next command raises ``MaxConnectionsError`` ("Too many
connections") and the websocket that wanted it never joins its group. A
``BlockingConnectionPool`` with the same options makes that command wait (the host's
``timeout``, in seconds) for a connection to come back instead: a burst of connecting watchers
queues for a few milliseconds rather than losing their rows.
"""

from channels_redis.core import RedisChannelLayer
from redis.asyncio import BlockingConnectionPool


class PooledRedisChannelLayer(RedisChannelLayer):
    def create_pool(self, index):
        host = dict(self.hosts[index])
        return BlockingConnectionPool.from_url(host.pop("address"), **host)
