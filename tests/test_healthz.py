import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def client(client, learner):
    """Details are for logged-in users; an anonymous visitor is told ok or not ok only."""
    client.force_login(learner)
    return client


@pytest.mark.django_db
def test_it_tells_an_anonymous_visitor_ok_or_not_only(lab_redis):
    response = Client().get("/healthz")
    assert response.json() == {"ok": False} and response.status_code == 503
    assert b"redis" not in response.content and b"workers" not in response.content


@pytest.mark.django_db
def test_it_answers_an_anonymous_probe_without_the_torch_and_gpu_checks(lab_redis, monkeypatch):
    """A load balancer probes every few seconds: it gets the verdict on the parts every run needs,
    not a torch import and an NVML probe whose details it is never shown."""
    from labapp import health

    def not_for_a_probe():
        raise AssertionError("an anonymous probe ran a check whose details it is not shown")

    monkeypatch.setattr(health, "check_torch", not_for_a_probe)
    monkeypatch.setattr(health, "check_gpus", not_for_a_probe)
    monkeypatch.setattr(health, "check_celery", lambda: {"ok": True, "workers": ["celery@node1"]})
    response = Client().get("/healthz")
    assert response.json() == {"ok": True} and response.status_code == 200


def test_it_answers_an_anonymous_probe_without_importing_torch_or_nvml(tmp_path):
    """In a fresh interpreter, as a web process that never ran an experiment: torch is not
    imported by the probe (seconds, and hundreds of MB) and NVML is not loaded."""
    probe = ("import django, sys; django.setup(); "
             "from django.test.utils import setup_test_environment; setup_test_environment(); "
             "from django.test import Client; response = Client().get('/healthz'); "
             "print(response.status_code, response.content.decode(), "
             "sorted(m for m in ('torch', 'pynvml') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120,
                            env={"DJANGO_SETTINGS_MODULE": "labapp.settings", "PATH": "/usr/bin:/bin",
                                 "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == '503 {"ok": false} []'  # no REDIS_URL: not ok, and said so at once


@pytest.mark.django_db
def test_it_reports_each_part_with_a_reason_when_no_worker_runs(client, lab_redis):
    response = client.get("/healthz")
    body = response.json()
    assert body["database"]["ok"] is True
    assert body["redis"]["ok"] is True
    assert body["celery"] == {"ok": False, "workers": [], "error": "no Celery worker answered a ping"}
    assert body["torch"]["backends"]["gloo"] is True
    assert body["torch"]["version"]
    assert response.status_code == 503  # not ready to run experiments without a worker
    assert body["ok"] is False


@pytest.mark.django_db
def test_it_lists_the_gpus_nvml_reports_or_says_why_none(client, lab_redis):
    gpus = client.get("/healthz").json()["gpus"]
    assert gpus["source"] == "reported-nvml"
    if gpus["count"]:  # a GPU machine
        assert gpus["ok"] is True and len(gpus["gpus"]) == gpus["count"]
        assert all(gpu["name"] and gpu["uuid"] for gpu in gpus["gpus"])
    else:
        assert gpus["ok"] is False and gpus["gpus"] == []
        assert "NVML" in gpus["reason"]


@pytest.mark.django_db
def test_it_reports_a_crashing_gpu_probe_as_a_reason_beside_the_other_parts(client, lab_redis, monkeypatch):
    def crash(*args, **kwargs):
        raise RuntimeError("Driver/library version mismatch")

    monkeypatch.setattr("tpworkers.diagnose.nvml_probe.probe", crash)
    body = client.get("/healthz").json()
    assert body["gpus"]["count"] == 0 and body["gpus"]["ok"] is False
    assert "the NVML probe failed: RuntimeError('Driver/library version mismatch')" == body["gpus"]["reason"]
    assert body["database"]["ok"] is True and body["redis"]["ok"] is True


@pytest.mark.django_db
def test_it_reports_an_unreachable_redis(client, settings):
    from labapp.redis_server import free_port

    settings.REDIS_URL = f"redis://:secret@127.0.0.1:{free_port()}/0"
    body = client.get("/healthz").json()
    assert body["redis"]["ok"] is False
    assert "Error" in body["redis"]["error"] or "refused" in body["redis"]["error"]
    assert "secret" not in body["redis"]["url"]


@pytest.mark.django_db
def test_it_says_that_redis_url_is_not_set(client, settings):
    settings.REDIS_URL = None
    body = client.get("/healthz").json()
    assert body["redis"]["ok"] is False and body["redis"]["url"] is None
    assert body["redis"]["error"].startswith("REDIS_URL is not set")


@pytest.mark.django_db
@pytest.mark.parametrize("down, ok", [(["check_gpus"], True), (["check_celery"], False),
                                      (["check_torch", "find_torch"], False)])
def test_it_requires_the_same_parts_of_a_probe_and_of_a_logged_in_user(client, monkeypatch, down, ok):
    """No GPU is a normal state; any other part down is not ok, for a probe as for a user."""
    from labapp import health

    for check in ("check_database", "check_redis", "check_celery", "check_torch", "check_gpus", "find_torch"):
        monkeypatch.setattr(health, check, lambda check=check: {"ok": check not in down})
    assert client.get("/healthz").json()["ok"] is ok
    assert Client().get("/healthz").json() == {"ok": ok}
