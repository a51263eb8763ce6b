import pytest
from django.test import Client


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
