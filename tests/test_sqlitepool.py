"""labapp.sqlitepool: under ASGI every request runs in a new thread, so a connection kept per
thread is never reused; an idle connection closed by one thread must serve the next one."""
import threading

import pytest
from django.db import connection, connections, transaction

pytestmark = pytest.mark.django_db(transaction=True)


def _in_another_thread(work):
    out = {}

    def run():
        try:
            out["value"] = work()
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    return out["value"]


def _raw_connection():
    conn = connections["default"]
    conn.ensure_connection()
    return conn.connection


@pytest.mark.skipif(connection.vendor != "sqlite", reason="the pool is SQLite's")
def test_it_hands_an_idle_closed_connection_to_the_next_thread():
    first = _in_another_thread(_raw_connection)
    assert _in_another_thread(_raw_connection) is first
    assert _in_another_thread(lambda: connections["default"].cursor().execute("SELECT 1").fetchone()) == (1,)


@pytest.mark.skipif(connection.vendor != "sqlite", reason="the pool is SQLite's")
def test_it_does_not_pool_a_connection_closed_inside_a_transaction():
    def close_mid_transaction():
        with transaction.atomic():
            raw = _raw_connection()
            connections["default"].cursor().execute("SELECT 1")
            connections["default"].close()  # a transaction is open: this connection must not be shared
        return raw

    abandoned = _in_another_thread(close_mid_transaction)
    assert _in_another_thread(_raw_connection) is not abandoned


@pytest.mark.skipif(connection.vendor != "sqlite", reason="the pool is SQLite's")
def test_it_leaves_foreign_keys_on_for_the_next_user():
    def turn_off():
        conn = connections["default"]
        conn.ensure_connection()
        conn.connection.execute("PRAGMA foreign_keys = OFF")
        return conn.connection

    turned_off = _in_another_thread(turn_off)
    reused_state = _in_another_thread(
        lambda: (_raw_connection(), connections["default"].cursor().execute("PRAGMA foreign_keys").fetchone()[0]))
    assert reused_state == (turned_off, 1)
