"""The run websocket, through the real ASGI stack (origin check, session auth, routing)."""

import pytest
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator

from labapp.asgi import application
from tpworkers.events import measurement_event, run_group, status_event

pytestmark = pytest.mark.django_db(transaction=True)

ROW = {"op": "all_reduce", "size_bytes": 4096, "count": 1024, "dtype": "float32", "nranks": 2, "time_us": 321.5,
       "algbw_GBps": 0.0127, "busbw_GBps": 0.0127, "min_us": 300.0, "median_us": 320.0, "p99_us": 400.0, "wrong": 0}


def _communicator(run_id, client=None, origin="http://localhost"):
    headers = [(b"origin", origin.encode()), (b"host", b"localhost")]
    if client is not None:
        headers.append((b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()))
    return WebsocketCommunicator(application, f"/ws/runs/{run_id}/", headers=headers)


def _logged_in(client, user):
    client.force_login(user)
    return client


def test_it_sends_a_snapshot_then_each_measurement(client, learner, make_run, memory_layer):
    from asgiref.sync import async_to_sync
    from channels.db import database_sync_to_async

    run = make_run(learner)
    run.record(0, {**ROW, "size_bytes": 1024, "count": 256})

    communicator = _communicator(run.pk, _logged_in(client, learner))

    async def scenario():
        connected, _ = await communicator.connect()
        assert connected
        status = await communicator.receive_from()
        assert f'id="run-{run.pk}-status"' in status and "queued" in status
        row = await communicator.receive_from()  # each row alone: a <tr> must lead its fragment
        assert row.lstrip().startswith(f'<tr id="run-{run.pk}-row-0"') and 'hx-swap-oob="true"' in row
        assert await communicator.receive_nothing(timeout=0.2)  # pending rows are already on the page

        layer = get_channel_layer()
        event = await database_sync_to_async(measurement_event)(run, 1, ROW)
        await layer.group_send(run_group(run.pk), event.to_message())
        fragment = await communicator.receive_from()
        assert f'id="run-{run.pk}-row-1"' in fragment and "321.5" in fragment and "4 KiB" in fragment
        await communicator.disconnect()

    async_to_sync(scenario)()


def test_it_sends_the_new_status_with_the_reason(client, learner, make_run, memory_layer):
    from asgiref.sync import async_to_sync

    run = make_run(learner)

    communicator = _communicator(run.pk, _logged_in(client, learner))

    async def scenario():
        await communicator.connect()
        await communicator.receive_from()
        event = await run_finish(run)
        await get_channel_layer().group_send(run_group(run.pk), event.to_message())
        fragment = await communicator.receive_from()
        assert "failed" in fragment and "rank 1 died: killed by SIGKILL" in fragment
        await communicator.disconnect()

    async_to_sync(scenario)()


async def run_finish(run):
    from channels.db import database_sync_to_async

    await database_sync_to_async(run.finish)("failed", "rank 1 died: killed by SIGKILL")
    return await database_sync_to_async(status_event)(run)


@pytest.mark.parametrize("who", ["anonymous", "stranger"])
def test_it_refuses_anyone_but_the_owner(client, learner, other_learner, make_run, memory_layer, who):
    from asgiref.sync import async_to_sync

    run = make_run(learner)
    communicator = _communicator(run.pk, None if who == "anonymous" else _logged_in(client, other_learner))
    connected, code = async_to_sync(communicator.connect)()
    assert not connected
    assert code == 4403


def test_it_lets_an_instructor_watch(client, learner, instructor, make_run, memory_layer):
    from asgiref.sync import async_to_sync

    run = make_run(learner)
    communicator = _communicator(run.pk, _logged_in(client, instructor))

    async def scenario():
        connected, _ = await communicator.connect()
        assert connected
        assert f'id="run-{run.pk}-status"' in await communicator.receive_from()
        await communicator.disconnect()

    async_to_sync(scenario)()


def test_it_refuses_a_page_from_another_origin(client, learner, make_run, memory_layer):
    from asgiref.sync import async_to_sync

    run = make_run(learner)
    communicator = _communicator(run.pk, _logged_in(client, learner), origin="http://evil.example")
    connected, _ = async_to_sync(communicator.connect)()
    assert not connected


def test_it_refuses_a_page_from_another_port_of_the_same_host(client, learner, make_run, memory_layer):
    """A page on 127.0.0.1:9999 read another port's runs with the victim's cookies."""
    from asgiref.sync import async_to_sync

    run = make_run(learner)
    for origin in ("http://localhost:9999", "https://localhost"):
        communicator = _communicator(run.pk, _logged_in(client, learner), origin=origin)
        connected, _ = async_to_sync(communicator.connect)()
        assert not connected, origin


def test_it_pushes_a_status_saved_without_a_group_message_then_stops_watching(client, learner, make_run, settings,
                                                                             memory_layer, monkeypatch):
    """A run finished while a Redis restart dropped the group message (or failed by a worker
    restart, or cancelled in another tab): the watchdog sends the saved status, once, and ends."""
    from asgiref.sync import async_to_sync
    from channels.db import database_sync_to_async

    from tpworkers import consumers

    settings.RUN_STALL_TIMEOUT_S = 4  # the watchdog looks every second
    looks = []
    status_now = consumers._status_now
    monkeypatch.setattr(consumers, "_status_now", lambda run_id: looks.append(run_id) or status_now(run_id))
    run = make_run(learner)
    communicator = _communicator(run.pk, _logged_in(client, learner))

    async def scenario():
        await communicator.connect()
        assert "queued" in await communicator.receive_from()
        assert await communicator.receive_nothing(timeout=1.5)  # nothing changed: nothing sent
        await database_sync_to_async(run.finish)("done")  # saved, never published
        fragment = await communicator.receive_from(timeout=3)
        assert 'class="status done"' in fragment
        looked = len(looks)
        assert await communicator.receive_nothing(timeout=2.5)
        assert len(looks) == looked  # the run has ended: the watchdog stopped looking
        await communicator.disconnect()

    async_to_sync(scenario)()
