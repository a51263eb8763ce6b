import pytest
from django.core.exceptions import ImproperlyConfigured

from labapp.env import (
    env_bool, env_choice, env_dir, env_int, env_list, env_log_level, env_name, env_required, env_str, env_url,
)


def test_it_reads_booleans_in_common_spellings(monkeypatch):
    for text, expected in [("1", True), ("yes", True), ("On", True), ("0", False), ("false", False), ("OFF", False)]:
        monkeypatch.setenv("FLAG", text)
        assert env_bool("FLAG", default=not expected) is expected


def test_it_uses_the_default_when_unset_or_blank(monkeypatch):
    monkeypatch.delenv("FLAG", raising=False)
    assert env_bool("FLAG", default=True) is True
    monkeypatch.setenv("FLAG", "   ")
    assert env_int("FLAG", 7) == 7


def test_it_names_the_variable_and_value_when_a_boolean_is_wrong(monkeypatch):
    monkeypatch.setenv("DJANGO_DEBUG", "maybe")
    with pytest.raises(ImproperlyConfigured, match=r"DJANGO_DEBUG='maybe' is not a boolean"):
        env_bool("DJANGO_DEBUG", default=False)


def test_it_refuses_integers_out_of_range_or_malformed(monkeypatch):
    monkeypatch.setenv("N", "12x")
    with pytest.raises(ImproperlyConfigured, match="N='12x' is not an integer"):
        env_int("N", 1)
    monkeypatch.setenv("N", "3")
    with pytest.raises(ImproperlyConfigured, match="below the minimum 5"):
        env_int("N", 10, minimum=5)
    with pytest.raises(ImproperlyConfigured, match="above the maximum 2"):
        env_int("N", 1, maximum=2)
    assert env_int("N", 1, minimum=1, maximum=3) == 3


def test_it_splits_lists_and_refuses_empty_items(monkeypatch):
    monkeypatch.setenv("HOSTS", "a.example, b.example")
    assert env_list("HOSTS", []) == ["a.example", "b.example"]
    monkeypatch.setenv("HOSTS", "a,,b")
    with pytest.raises(ImproperlyConfigured, match="empty item"):
        env_list("HOSTS", [])


def test_it_checks_choices_and_url_schemes(monkeypatch):
    monkeypatch.setenv("MODE", "staging")
    with pytest.raises(ImproperlyConfigured, match="not one of: dev, production"):
        env_choice("MODE", "dev", ("dev", "production"))
    monkeypatch.setenv("REDIS_URL", "localhost:6379")
    with pytest.raises(ImproperlyConfigured, match="REDIS_URL='localhost:6379' is not a URL"):
        env_url("REDIS_URL", None, ("redis",))
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:7000/1")
    assert env_url("REDIS_URL", None, ("redis",)) == "redis://127.0.0.1:7000/1"


def test_it_requires_what_production_needs(monkeypatch):
    monkeypatch.delenv("DJANGO_SECRET_KEY", raising=False)
    with pytest.raises(ImproperlyConfigured, match="DJANGO_SECRET_KEY must be set"):
        env_required("DJANGO_SECRET_KEY", "production needs a secret key of its own")
    monkeypatch.setenv("NAME", " lab ")
    assert env_str("NAME") == "lab"


def test_it_reads_log_levels_in_any_case_and_names_the_known_ones(monkeypatch):
    monkeypatch.setenv("TPLAB_LOG_LEVEL", "debug")
    assert env_log_level("TPLAB_LOG_LEVEL", "INFO") == "DEBUG"
    monkeypatch.setenv("TPLAB_LOG_LEVEL", "verbose")
    with pytest.raises(ImproperlyConfigured, match=r"'verbose' is not a log level: use one of DEBUG, INFO"):
        env_log_level("TPLAB_LOG_LEVEL", "INFO")


def test_it_accepts_only_safe_names(monkeypatch):
    monkeypatch.setenv("TPLAB_QUEUE", "node.rack-a_1")
    assert env_name("TPLAB_QUEUE", "tplab") == "node.rack-a_1"
    for bad in ("my queue", "-x", "a/b", "q" * 101):
        monkeypatch.setenv("TPLAB_QUEUE", bad)
        with pytest.raises(ImproperlyConfigured, match=r"TPLAB_QUEUE=.* is not a safe name"):
            env_name("TPLAB_QUEUE", "tplab")


def test_it_wants_an_absolute_directory(monkeypatch, tmp_path):
    monkeypatch.setenv("TPLAB_STATE_DIR", str(tmp_path / "state"))
    assert env_dir("TPLAB_STATE_DIR", tmp_path) == tmp_path / "state"
    monkeypatch.setenv("TPLAB_STATE_DIR", "state")
    with pytest.raises(ImproperlyConfigured, match="TPLAB_STATE_DIR='state' is not an absolute path"):
        env_dir("TPLAB_STATE_DIR", tmp_path)
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("TPLAB_STATE_DIR", str(tmp_path / "file"))
    with pytest.raises(ImproperlyConfigured, match="exists and is not a directory"):
        env_dir("TPLAB_STATE_DIR", tmp_path)
