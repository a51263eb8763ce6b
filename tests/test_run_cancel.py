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
    event = StatusEvent.from_message(message)
    assert event == StatusEvent(behind.pk, "queued", position=2)
    assert "1 run ahead of yours" in event.html  # rendered once by the sender, for every watcher
    assert async_to_sync(_receives_nothing)(layer, channels[earlier.pk])  # a run ahead did not move


async def _receives_nothing(layer, channel) -> bool:
    import asyncio

    try:
        await asyncio.wait_for(layer.receive(channel), timeout=0.2)
    except asyncio.TimeoutError:
        return True
    return False


@pytest.mark.django_db
def test_it_cancels_from_the_status_block_the_socket_sent(learner, make_run, memory_layer):
    """The socket renders the status block without a request (no token in its form): the button
    posts through htmx with the page's X-CSRFToken header and is sent to the run page."""
    import re

    from django.test import Client

    from tpworkers.consumers import _status_now

    run = make_run(learner)
    client = Client(enforce_csrf_checks=True)
    client.force_login(learner)
    page = client.get(f"/lab/runs/{run.pk}/").content.decode()
    token = re.search(r'"X-CSRFToken": "([^"]+)"', page).group(1)
    fragment = _status_now(run.pk).html
    assert "csrfmiddlewaretoken" not in fragment
    assert f'hx-post="/lab/runs/{run.pk}/cancel/"' in fragment

    response = client.post(f"/lab/runs/{run.pk}/cancel/", HTTP_HX_REQUEST="true", HTTP_X_CSRFTOKEN=token)

    assert response.status_code == 200 and response["HX-Redirect"] == f"/lab/runs/{run.pk}/"
    run.refresh_from_db()
    assert run.status == "cancelled"
