"""Django's debug pages never reach the network (issue 13, item 6): `lab.py run --host` beyond
loopback turns DEBUG off (or refuses an explicit DJANGO_DEBUG), and the settings agree."""
import pytest

from labapp.runner import debug_off_beyond_loopback

from tests.test_settings import SHOW, _manage


def test_it_keeps_debug_on_loopback():
    for host in ("127.0.0.1", "::1", "localhost", "127.0.0.2"):
        assert debug_off_beyond_loopback(host, {}) == ""


def test_it_turns_debug_off_beyond_loopback_and_says_so():
    assert "DEBUG is off" in debug_off_beyond_loopback("0.0.0.0", {})
    assert "DEBUG is off" in debug_off_beyond_loopback("gpu-box", {"DJANGO_DEBUG": "0"})


def test_it_refuses_an_explicit_debug_beyond_loopback():
    with pytest.raises(RuntimeError, match="DJANGO_DEBUG is on and --host 0.0.0.0 serves other machines"):
        debug_off_beyond_loopback("0.0.0.0", {"DJANGO_DEBUG": "1"})


def test_it_shows_no_settings_on_a_404_when_served_beyond_loopback(tmp_path):
    code = SHOW.format("settings.DEBUG, Client().get('/no-such-page').content[:2000]")
    db = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    wide = _manage("shell", "-c", code, TPLAB_RUN_HOSTS="127.0.0.1,gpu-box,testserver", DATABASE_URL=db)
    last = wide.stdout.strip().splitlines()[-1]
    assert last.startswith("False") and "Not Found" in last and "URLconf" not in last, wide.stderr
    local = _manage("shell", "-c", SHOW.format("settings.DEBUG"), DATABASE_URL=db)
    assert local.stdout.strip().splitlines()[-1] == "True"
