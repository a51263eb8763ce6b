import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _manage(*args, **env):
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "TPLAB_"))}
    full_env.update(env)
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=full_env,
                          capture_output=True, text=True)


def test_it_passes_the_deploy_check_with_production_settings():
    done = _manage("check", "--deploy", "--fail-level", "WARNING",
                   TPLAB_MODE="production", DJANGO_ALLOWED_HOSTS="lab.example.org",
                   DJANGO_SECRET_KEY="x" * 20 + "-production-secret-with-enough-entropy-0123456789")
    assert done.returncode == 0, done.stderr + done.stdout
    assert "no issues" in done.stdout


def test_it_refuses_to_start_production_without_a_secret_key():
    done = _manage("check", TPLAB_MODE="production", DJANGO_ALLOWED_HOSTS="lab.example.org")
    assert done.returncode != 0
    assert "DJANGO_SECRET_KEY must be set" in done.stderr


def test_it_refuses_a_misspelt_setting_by_name():
    done = _manage("check", TPLAB_RUN_STALL_TIMEOUT_S="soon")
    assert done.returncode != 0
    assert "TPLAB_RUN_STALL_TIMEOUT_S='soon' is not an integer" in done.stderr
