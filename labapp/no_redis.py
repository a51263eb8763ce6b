"""What Celery and Channels talk to when REDIS_URL is not set: nothing, loudly.

Without REDIS_URL the lab must not guess a Redis (one on localhost:6379 may be someone else's),
yet ``manage.py check``, ``migrate`` and the unit tests need no Redis at all. So the settings
point Celery's broker and the Channels layer here, and the first thing that would talk to Redis
fails with an error that says what to set.
"""

from channels.layers import BaseChannelLayer
from django.core.exceptions import ImproperlyConfigured
from kombu.transport.base import Transport

MESSAGE = (
    "REDIS_URL is not set, so the lab has no Redis to talk to: `python3 lab.py run` starts a "
    "private one and sets it; anything else needs REDIS_URL=redis://HOST:PORT/DB"
)


class NoRedisTransport(Transport):
    """Celery's broker transport without REDIS_URL: connecting raises, nothing is retried."""

    driver_type = driver_name = "no-redis"

    def establish_connection(self):
        raise ImproperlyConfigured(MESSAGE)


class NoRedisChannelLayer(BaseChannelLayer):
    """The Channels layer without REDIS_URL: every operation raises."""

    async def _refuse(self, *args, **kwargs):
        raise ImproperlyConfigured(MESSAGE)

    send = receive = new_channel = flush = group_add = group_discard = group_send = _refuse
