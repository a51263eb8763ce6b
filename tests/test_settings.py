import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _manage(*args, **env):
    full_env = {k: v for k, v in os.environ.items()
                if not k.startswith(("DJANGO_", "TPLAB_")) and k not in ("REDIS_URL", "DATABASE_URL")}
    full_env.update(env)
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=full_env,
                          capture_output=True, text=True)


PRODUCTION = {"TPLAB_MODE": "production", "DJANGO_ALLOWED_HOSTS": "lab.example.org",
              "DJANGO_SECRET_KEY": "x" * 20 + "-production-secret-with-enough-entropy-0123456789"}


def test_it_passes_the_deploy_check_with_production_settings():
    done = _manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)
    assert done.returncode == 0, done.stderr + done.stdout
    assert "no issues" in done.stdout


def test_it_refuses_to_start_production_without_a_secret_key():
    done = _manage("check", TPLAB_MODE="production", DJANGO_ALLOWED_HOSTS="lab.example.org")
    assert done.returncode != 0
    assert "DJANGO_SECRET_KEY must be set" in done.stderr


def test_it_refuses_a_misspelt_setting_by_name():
    for name, value, error in [
        ("TPLAB_RUN_STALL_TIMEOUT_S", "soon", "TPLAB_RUN_STALL_TIMEOUT_S='soon' is not an integer"),
        ("TPLAB_LOG_LEVEL", "loud", "TPLAB_LOG_LEVEL='loud' is not a log level"),
        ("TPLAB_QUEUE", "my queue", "TPLAB_QUEUE='my queue' is not a safe name"),
        ("TPLAB_STATE_DIR", "state", "TPLAB_STATE_DIR='state' is not an absolute path"),
    ]:
        done = _manage("check", **{name: value})
        assert done.returncode != 0
        assert error in done.stderr


SHOW = "from django.conf import settings; from django.test import Client; print({})"


def test_it_lets_a_load_balancer_probe_healthz_over_plain_http_in_production(tmp_path):
    code = SHOW.format("Client().get('/healthz').status_code, Client().get('/').status_code")
    done = _manage("shell", "-c", code, **{**PRODUCTION, "DJANGO_ALLOWED_HOSTS": "testserver"},
                   DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}")
    healthz, home = map(int, done.stdout.strip().splitlines()[-1].split())
    assert home == 301  # everything else goes to https
    assert healthz == 503  # answered over http: no worker here, and no redirect


def test_it_adds_the_hosts_lab_run_serves_in_dev_only():
    dev = _manage("shell", "-c", SHOW.format("settings.ALLOWED_HOSTS"), TPLAB_RUN_HOSTS="gpu-box,10.0.0.7")
    assert dev.stdout.strip().splitlines()[-1] == "['localhost', '127.0.0.1', '[::1]', 'gpu-box', '10.0.0.7']"
    production = _manage("shell", "-c", SHOW.format("settings.ALLOWED_HOSTS"), **PRODUCTION,
                         TPLAB_RUN_HOSTS="gpu-box")
    assert production.stdout.strip().splitlines()[-1] == "['lab.example.org']"


def test_it_checks_and_migrates_without_redis_url(tmp_path):
    assert _manage("check").returncode == 0
    done = _manage("migrate", "--noinput", "-v", "0", DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}")
    assert done.returncode == 0, done.stderr


TOUCH_REDIS = """
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from labapp.celery import app
attempts = {
    "celery": lambda: app.send_task("tpworkers.tasks.run_experiment", args=[0]),
    "channels": lambda: async_to_sync(get_channel_layer().group_send)("run-0", {"type": "run.event"}),
}
for name, attempt in attempts.items():
    try:
        attempt()
        print(name, "reached a Redis")
    except Exception as exc:
        print(name, type(exc).__name__, exc)
"""


def test_it_never_falls_back_to_a_redis_on_localhost_without_redis_url():
    done = _manage("shell", "-c", TOUCH_REDIS)
    assert "celery ImproperlyConfigured REDIS_URL is not set" in done.stdout, done.stdout + done.stderr
    assert "channels ImproperlyConfigured REDIS_URL is not set" in done.stdout, done.stdout + done.stderr
