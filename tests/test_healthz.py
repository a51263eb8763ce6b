import pytest


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
def test_it_says_why_no_gpu_is_seen(client, lab_redis):
    gpus = client.get("/healthz").json()["gpus"]
    assert gpus["count"] == 0
    assert "NVML" in gpus["reason"]


@pytest.mark.django_db
def test_it_reports_an_unreachable_redis(client, settings, test_redis):
    from labapp.redis_server import free_port

    settings.REDIS_URL = f"redis://:secret@127.0.0.1:{free_port()}/0"
    body = client.get("/healthz").json()
    assert body["redis"]["ok"] is False
    assert "Error" in body["redis"]["error"] or "refused" in body["redis"]["error"]
    assert "secret" not in body["redis"]["url"]
