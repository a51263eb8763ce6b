import pytest

from tpworkers.models import ExperimentRun


@pytest.mark.django_db
def test_it_ends_a_queued_run_at_once(client, learner, make_run, memory_layer):
    run = make_run(learner)
    client.force_login(learner)
    response = client.post(f"/lab/runs/{run.pk}/cancel/")
    run.refresh_from_db()
    assert response.status_code == 302
    assert run.status == "cancelled" and run.error == "Cancelled before it started."


@pytest.mark.django_db
def test_it_asks_a_running_run_to_stop_after_the_current_size(client, learner, make_run, memory_layer):
    run = make_run(learner)
    run.mark_running(worker="tplab@testnode", device_group="gloo on CPU, 2 ranks")
    client.force_login(learner)
    client.post(f"/lab/runs/{run.pk}/cancel/")
    run.refresh_from_db()
    assert run.status == "running" and run.cancel_requested is True


@pytest.mark.django_db
def test_it_does_not_let_another_learner_cancel(client, learner, other_learner, make_run, memory_layer):
    run = make_run(learner)
    client.force_login(other_learner)
    assert client.post(f"/lab/runs/{run.pk}/cancel/").status_code == 404
    assert ExperimentRun.objects.get(pk=run.pk).status == "queued"
