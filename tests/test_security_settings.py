"""Settings that keep secrets and pages safe (issue 13, items 7 and 11): a strict CSP with no
inline script, the proxy's HTTPS header trusted only when configured, the SQLite file 0600 in a
0700 folder."""
import re
import stat
from pathlib import Path

import pytest

from labapp.private_files import sqlite_path

from tests.test_settings import PRODUCTION, SHOW, _manage

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


@pytest.mark.django_db
def test_it_sends_a_strict_content_security_policy(client):
    policy = client.get("/")["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'"
    assert directives["default-src"] == "'self'" and directives["object-src"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"


def test_it_keeps_every_script_and_style_out_of_the_templates():
    """What the policy would block: inline <script>, <style>, on* handlers, javascript: URLs."""
    for path in TEMPLATES.rglob("*.html"):
        html = path.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), path
        assert "<style" not in html and "javascript:" not in html, path
        assert not re.search(r"\son[a-z]+=", html), path


def test_it_trusts_the_proxy_https_header_only_when_configured(tmp_path):
    code = SHOW.format("settings.SECURE_PROXY_SSL_HEADER")
    plain = _manage("shell", "-c", code, **PRODUCTION)
    assert plain.stdout.strip().splitlines()[-1] == "None", plain.stderr
    proxied = _manage("shell", "-c", code, **PRODUCTION, TPLAB_BEHIND_TLS_PROXY="1")
    assert proxied.stdout.strip().splitlines()[-1] == "('HTTP_X_FORWARDED_PROTO', 'https')"


def test_it_keeps_the_database_file_private(tmp_path):
    path = sqlite_path(tmp_path / "state", tmp_path / "db.sqlite3")
    assert path == tmp_path / "state" / "db.sqlite3"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_it_keeps_an_older_database_where_it_was_and_makes_it_private(tmp_path):
    legacy = tmp_path / "db.sqlite3"
    legacy.write_bytes(b"SQLite format 3\0")
    legacy.chmod(0o644)
    assert sqlite_path(tmp_path / "state", legacy) == legacy
    assert stat.S_IMODE(legacy.stat().st_mode) == 0o600 and legacy.read_bytes().startswith(b"SQLite")
