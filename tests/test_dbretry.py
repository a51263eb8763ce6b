"""A worker's write that lost a race for SQLite's lock is retried, not turned into a failed run."""

import pytest
from django.db import OperationalError

from labapp.dbretry import retry_locked


def test_it_retries_a_locked_database_until_the_write_goes_through():
    calls = []

    def write(value):
        calls.append(value)
        if len(calls) < 3:
            raise OperationalError("database is locked")
        return value

    assert retry_locked(write, "row", first_pause_s=0.001) == "row" and calls == ["row"] * 3


def test_it_raises_other_errors_at_once_and_a_lock_that_outlasts_every_attempt():
    calls = []

    def broken():
        calls.append(1)
        raise OperationalError("no such table: tpworkers_measurement")

    with pytest.raises(OperationalError, match="no such table"):
        retry_locked(broken, first_pause_s=0.001)
    assert calls == [1]
    with pytest.raises(OperationalError, match="locked"):
        retry_locked(lambda: (_ for _ in ()).throw(OperationalError("database is locked")), attempts=3,
                     first_pause_s=0.001)
