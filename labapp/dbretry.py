"""Retry a write that lost a race for the database lock.

SQLite has one writer at a time. With WAL, IMMEDIATE transactions and a busy timeout
(labapp/settings.py) a writer waits its turn, so "database is locked" means it waited the whole
timeout; PostgreSQL's equivalent is a deadlock one of two transactions is chosen to lose. Both
are transient: the worker retries its own writes (a measured row, a status change) a few times
with growing pauses rather than failing a run that measured fine. Call it outside any
transaction: inside one, the failed statement has already spoiled it.
"""

import logging
import random
import time

from django.db import OperationalError

log = logging.getLogger(__name__)

TRANSIENT = ("database is locked", "database table is locked", "deadlock detected")


def is_transient(exc: OperationalError) -> bool:
    return any(text in str(exc) for text in TRANSIENT)


def retry_locked(fn, *args, attempts: int = 5, first_pause_s: float = 0.05, **kwargs):
    """fn(*args, **kwargs), again after a transient lock error, up to `attempts` times in all."""
    for attempt in range(1, attempts + 1):
        try:
            return fn(*args, **kwargs)
        except OperationalError as exc:
            if attempt == attempts or not is_transient(exc):
                raise
            pause = first_pause_s * 2 ** (attempt - 1) * random.uniform(1, 1.5)  # jitter: no lockstep retries
            log.warning("%s (attempt %d of %d); retrying in %.2f s", exc, attempt, attempts, pause)
            time.sleep(pause)
