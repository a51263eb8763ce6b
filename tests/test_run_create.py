import pytest

from tpworkers.models import ExperimentRun


@pytest.mark.django_db
def test_it_creates_a_default_sweep_owned_by_the_learner_and_queues_it(client, learner, django_capture_on_commit_callbacks):
    client.force_login(learner)
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post("/lab/runs/")
    run = ExperimentRun.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/lab/runs/{run.pk}/"
    assert run.owner == learner and run.status == "queued"
    assert run.params["op"] == "all_reduce"
    assert run.params["sizes"][0] == 1024 and run.params["sizes"][-1] == 64 << 20
    assert len(callbacks) == 1  # the Celery task is sent only once the run is committed


@pytest.mark.django_db
def test_it_refuses_bad_parameters_with_the_reason(client, learner):
    client.force_login(learner)
    response = client.post("/lab/runs/", {"op": "all_reduce", "min_size": "1K", "max_size": "2G", "factor": "4",
                                          "dtype": "float32", "nproc": "2", "warmup": "1", "iters": "5"})
    assert response.status_code == 400
    assert "at most 256M per rank" in response.content.decode()
    assert not ExperimentRun.objects.exists()


@pytest.mark.django_db
def test_it_refuses_a_size_it_cannot_read(client, learner):
    client.force_login(learner)
    response = client.post("/lab/runs/", {"op": "all_reduce", "min_size": "lots", "max_size": "1M", "factor": "4",
                                          "dtype": "float32", "nproc": "2", "warmup": "1", "iters": "5"})
    assert response.status_code == 400
    assert "is not a whole number" in response.content.decode()


@pytest.mark.django_db
def test_it_limits_how_many_runs_a_learner_has_in_flight(client, learner, make_run, settings):
    settings.MAX_ACTIVE_RUNS_PER_LEARNER = 1
    make_run(learner)
    client.force_login(learner)
    response = client.post("/lab/runs/", follow=True)
    assert ExperimentRun.objects.count() == 1
    assert "You already have 1 runs queued or running" in response.content.decode()


@pytest.mark.django_db
def test_it_accepts_only_post(client, learner):
    client.force_login(learner)
    assert client.get("/lab/runs/").status_code == 405
