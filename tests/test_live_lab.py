"""A lab step in class: the instructor presses the run button once for everyone; the cohort's
learners may watch that run while the live session shows it, and see the class's median guess."""
import json
import re

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator

from labapp.asgi import application
from lessons.liveclass import flow
from tests.live_class_helpers import (  # noqa: F401
    classmates, cohort, course, fast_password_hashing, open_round,
)
from tpworkers.runs import run_for_user, run_to_watch

LAB = ("the-wire", "lab-pair")


def run_socket(client, user, run_id):
    """The run page's websocket, logged in as ``user``."""
    client.force_login(user)
    return WebsocketCommunicator(application, f"/ws/runs/{run_id}/", headers=[
        (b"origin", b"http://localhost"), (b"host", b"localhost"),
        (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())])


@pytest.fixture
def lab_round(client, cohort, classmates, instructor, lab_node, memory_layer):
    round_ = open_round(cohort, instructor, LAB)
    for learner, guess in zip(classmates, (20.0, 80.0)):
        flow.cast_vote(round_, learner, guess)
    client.force_login(instructor)
    assert client.post(f"/teach/live/{cohort.pk}/run/").status_code == 302
    round_.refresh_from_db()
    return round_


def test_it_runs_the_lab_once_for_the_class(client, cohort, lab_round, instructor):
    assert lab_round.run.owner == instructor and lab_round.run.status == "queued"
    again = client.post(f"/teach/live/{cohort.pk}/run/")
    assert again.status_code == 409 and "once per round" in again.content.decode()


def test_it_lets_the_class_watch_the_run_while_the_session_is_open(client, cohort, lab_round, classmates,
                                                                  other_learner, django_user_model):
    outsider = django_user_model.objects.create_user("outsider")
    assert run_to_watch(classmates[0], lab_round.run_id)[0] is not None
    assert run_to_watch(outsider, lab_round.run_id)[0] is None
    assert run_for_user(classmates[0], lab_round.run_id) is None  # watch, not cancel
    client.force_login(classmates[0])
    assert client.post(f"/lab/runs/{lab_round.run_id}/cancel/").status_code == 404
    page = client.get(f"/class/{cohort.code}/").content.decode()
    assert f'ws-connect="/ws/runs/{lab_round.run_id}/"' in page and f'id="run-{lab_round.run_id}-row-0"' in page
    assert "median <strong>50</strong>" in page
    flow.end_session(cohort)
    assert run_to_watch(classmates[0], lab_round.run_id)[0] is None


def _chart_data(page: str) -> dict:
    return json.loads(re.search(r'<script id="run-chart-data" type="application/json">(.*?)</script>', page, re.S).group(1))


def test_it_puts_the_class_guesses_on_the_run_chart(client, cohort, lab_round, classmates):
    """A sweep lab predicts one size's time: the class's median and spread go on the time chart,
    named as guesses; beside the run alone, not the instructor's earlier runs."""
    client.force_login(classmates[0])
    page = client.get(f"/class/{cohort.code}/").content.decode()
    chart = _chart_data(page)
    assert chart["guesses"] == {"metric": "time", "median": 50.0, "low": 20.0, "high": 80.0,
                                "line": "class median guess, 64 MiB message", "band": "class guesses, range"}
    assert chart["compare"] == [] and f'data-run-chart="run-{lab_round.run_id}-rows"' in page
    assert f'<tbody id="run-{lab_round.run_id}-rows">' in page
    assert "Shaded band and the line across it: the class's guesses" in page and "The chart needs JavaScript" in page
    assert "median <strong>50</strong> µs, range 20–80." in page  # and in words, for a page without JavaScript


def test_it_draws_no_guesses_on_an_axis_they_are_not_in(client, cohort, classmates, instructor, lab_node,
                                                       memory_layer):
    """A versus lab's guesses are a ratio: the time chart has no axis for them."""
    round_ = open_round(cohort, instructor, ("the-wire", "lab-pair-p2p-off"))
    flow.cast_vote(round_, classmates[0], 3.0)
    client.force_login(instructor)
    client.post(f"/teach/live/{cohort.pk}/run/")
    client.force_login(classmates[0])
    page = client.get(f"/class/{cohort.code}/").content.decode()
    assert "guesses" not in _chart_data(page) and "class-spread" in page


def test_it_shows_the_run_buttons_to_its_owner_only(client, lab_round, classmates, instructor):
    """A learner watching the class's run gets no Cancel (it would answer 404); the instructor does."""
    run_page = f"/lab/runs/{lab_round.run_id}/"
    assert "Cancel run" in client.get(run_page).content.decode()
    client.force_login(classmates[0])
    watched = client.get(run_page)
    assert watched.status_code == 200 and "Cancel run" not in watched.content.decode()
    assert f'id="run-{lab_round.run_id}-status"' in watched.content.decode()


@pytest.mark.django_db(transaction=True)
def test_it_sends_watchers_a_status_without_the_run_buttons(lab_round, classmates, instructor):
    """The run socket's status fragments, on connect and on each change, for a watching learner
    and for the run's owner."""
    from django.test import Client

    from tpworkers.events import run_group, status_event

    run = lab_round.run
    sockets = {who: run_socket(Client(), user, run.pk) for who, user in (("learner", classmates[0]), ("owner", instructor))}

    async def scenario():
        for socket in sockets.values():
            assert (await socket.connect(timeout=10))[0]
        on_connect = {who: await socket.receive_from(timeout=10) for who, socket in sockets.items()}
        assert "Cancel run" in on_connect["owner"] and "Cancel run" not in on_connect["learner"]
        await database_sync_to_async(run.finish)("done")
        event = await database_sync_to_async(status_event)(run)
        await get_channel_layer().group_send(run_group(run.pk), event.to_message())
        finished = {who: await socket.receive_from(timeout=10) for who, socket in sockets.items()}
        assert "finished" in finished["learner"] and "Run again" not in finished["learner"]
        assert "Run again with the same parameters" in finished["owner"]
        for socket in sockets.values():
            await socket.disconnect(timeout=10)

    async_to_sync(scenario)()


def test_it_draws_the_class_run_from_median_calls_as_the_guesses_are_judged(client, cohort, lab_round, classmates):
    """The lab judges a guess against a size's median call; the class's chart drew each size's
    mean, which one stalled call pulls far above the median, under the class's median guess."""
    from tpworkers.models import Measurement

    Measurement.objects.create(run=lab_round.run, seq=0, data={
        "size_bytes": 1024, "busbw_GBps": 1.0, "time_us": 2261.0, "median_us": 518.0})
    client.force_login(classmates[0])
    page = client.get(f"/class/{cohort.code}/").content.decode()
    current = _chart_data(page)["current"]
    assert current["time"] == "median" and current["label"].endswith("(this run, measured: median call)")
    assert 'data-time="2261.0" data-median="518.0"' in page
