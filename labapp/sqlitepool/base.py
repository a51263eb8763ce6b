"""SQLite whose connections outlive a request.

Under ASGI, Django runs each request's synchronous code in a thread of its own, so CONN_MAX_AGE
(a connection per thread) cannot keep one, and every request paid for a new connection: opening
the file, reading the schema, preparing each statement again. On a lesson step that was 2.3 ms of
about 8 (measured in one process on the 2-core dev VM, 2026-11-27; bench/bench_pages.py has the
served figure). Here a connection that Django closes while idle (autocommit, no transaction open)
goes back to a small pool, and the next request, in whichever thread, takes it. sqlite3 allows
that: Django opens its connections with check_same_thread=False, and one thread holds a pooled
connection at a time.
"""

import queue
import threading

from django.db.backends.sqlite3 import base

# Idle connections kept per database file; more are closed as usual. Each request in flight
# holds one: with 8, twenty learners reloading pages at once missed the pool on most requests
# and opened the file again (a py-spy profile under bench/bench_pages.py, 2026-11-27).
POOL_SIZE = 32


class DatabaseWrapper(base.DatabaseWrapper):
    _pools: dict[str, queue.LifoQueue] = {}
    _pools_lock = threading.Lock()

    def _pool(self) -> queue.LifoQueue:
        name = str(self.settings_dict["NAME"])
        with self._pools_lock:
            if name not in self._pools:
                self._pools[name] = queue.LifoQueue(POOL_SIZE)  # the last used first: the warmest
            return self._pools[name]

    def get_new_connection(self, conn_params):
        if not self.is_in_memory_db():
            try:
                connection = self._pool().get_nowait()
            except queue.Empty:
                pass
            else:
                connection.execute("PRAGMA foreign_keys = ON")  # as Django leaves every new connection
                return connection
        return super().get_new_connection(conn_params)

    def _close(self):
        idle = self.connection is not None and not self.connection.in_transaction and self.autocommit
        if idle and not self.is_in_memory_db():
            try:
                self._pool().put_nowait(self.connection)
                return
            except queue.Full:
                pass
        super()._close()
