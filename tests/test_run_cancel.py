import pytest

from tpworkers.models import ExperimentRun
from tests.support_runs import cpu_ranks


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
    run.mark_running(worker="tplab@testnode", devices=cpu_ranks(2))
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


@pytest.mark.django_db
def test_it_tells_the_runs_queued_behind_that_they_moved_up(client, learner, other_learner, make_run, memory_layer):
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    from tpworkers.events import StatusEvent, run_group

    earlier = make_run(other_learner)
    mine, behind = make_run(learner), make_run(other_learner)
    layer = get_channel_layer()
    channels = {run.pk: async_to_sync(layer.new_channel)() for run in (earlier, behind)}
    for run_id, channel in channels.items():
        async_to_sync(layer.group_add)(run_group(run_id), channel)
    client.force_login(learner)
    client.post(f"/lab/runs/{mine.pk}/cancel/")
    message = async_to_sync(layer.receive)(channels[behind.pk])
    assert StatusEvent.from_message(message) == StatusEvent(behind.pk, "queued")
    assert async_to_sync(_receives_nothing)(layer, channels[earlier.pk])  # a run ahead did not move


async def _receives_nothing(layer, channel) -> bool:
    import asyncio

    try:
        await asyncio.wait_for(layer.receive(channel), timeout=0.2)
    except asyncio.TimeoutError:
        return True
    return False
