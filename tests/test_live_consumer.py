"""The live class websocket, through the real ASGI stack: who may connect, what a late joiner
gets, votes over the socket (one per learner per vote) and the tally the console receives."""
import json

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from django.test import Client

from lessons.liveclass import flow
from lessons.liveclass.events import LEARNERS, StateEvent, live_group
from lessons.liveclass.models import Vote
from tests.live_class_helpers import (  # noqa: F401
    NUMBER, classmates, cohort, course, fast_password_hashing, open_round, socket_for,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("who", ["anonymous", "stranger", "other_instructor"])
def test_it_refuses_anyone_outside_the_cohort(client, cohort, django_user_model, memory_layer, who):
    user = {"anonymous": None,
            "stranger": django_user_model.objects.create_user("stranger"),
            "other_instructor": django_user_model.objects.create_user("other", is_staff=True)}[who]
    connected, code = async_to_sync(socket_for(client, user, cohort).connect)()
    assert not connected and code == 4403


def test_it_gives_a_late_learner_the_current_step(client, cohort, classmates, instructor, memory_layer):
    open_round(cohort, instructor)
    socket = socket_for(client, classmates[0], cohort)

    async def scenario():
        connected, _ = await socket.connect(timeout=10)
        assert connected
        page = await socket.receive_from(timeout=10)
        assert 'id="live-learner"' in page and "What does each GPU get?" in page and 'name="choice"' in page
        await socket.disconnect(timeout=10)

    async_to_sync(scenario)()


def test_it_gives_the_console_the_question_and_the_tally_on_connect(client, cohort, classmates, instructor,
                                                                    memory_layer):
    round_ = open_round(cohort, instructor)
    flow.cast_vote(round_, classmates[0], "weights")
    socket = socket_for(client, instructor, cohort)

    async def scenario():
        await socket.connect(timeout=10)
        question = await socket.receive_from(timeout=10)
        tally = await socket.receive_from(timeout=10)
        assert 'id="live-question"' in question and "<span data-phase>first vote</span>" in question
        assert 'id="live-tally"' in tally and "<strong data-answer-count>1</strong> answer of 2 learners" in tally
        assert classmates[0].username not in tally  # no names
        await socket.disconnect(timeout=10)

    async_to_sync(scenario)()


def test_it_moves_every_instructors_console_buttons_with_the_phase(cohort, classmates, instructor,
                                                                  django_user_model, memory_layer):
    """Two instructors of the cohort on the console: one presses, both consoles' buttons follow
    (before, the other's kept "Open a second vote" until a reload)."""
    co_teacher = django_user_model.objects.create_user("coteach", is_staff=True)
    cohort.instructors.add(co_teacher)
    open_round(cohort, instructor)
    presser = Client()
    presser.force_login(instructor)
    consoles = [socket_for(Client(), user, cohort, "?controls=1") for user in (instructor, co_teacher)]

    async def scenario():
        for console in consoles:
            await console.connect(timeout=10)
            state = await console.receive_from(timeout=10)
            assert 'id="live-controls"' in state and "Open a second vote" in state
            await console.receive_from(timeout=10)  # the tally
        response = await database_sync_to_async(presser.post)(f"/teach/live/{cohort.pk}/second/")
        assert response.status_code == 302
        for console in consoles:
            state = await console.receive_from(timeout=10)
            assert "<span data-phase>second vote</span>" in state
            assert "Open a second vote" not in state and "Reveal to everyone" in state
            assert f'hx-post="/teach/live/{cohort.pk}/reveal/"' in state  # posts with the page's CSRF header
            await console.disconnect(timeout=10)

    async_to_sync(scenario)()


def test_it_gives_the_projector_no_buttons(client, cohort, classmates, instructor, memory_layer):
    open_round(cohort, instructor)
    socket = socket_for(client, instructor, cohort)

    async def scenario():
        await socket.connect(timeout=10)
        state = await socket.receive_from(timeout=10)
        assert 'id="live-question"' in state and 'id="live-controls"' not in state and "Reveal" not in state
        await socket.disconnect(timeout=10)

    async_to_sync(scenario)()


def test_it_takes_one_vote_per_learner_and_updates_the_console(cohort, classmates, instructor, memory_layer):
    round_ = open_round(cohort, instructor)
    learner_socket = socket_for(Client(), classmates[0], cohort)
    console = socket_for(Client(), instructor, cohort)

    async def scenario():
        await console.connect(timeout=10)
        await console.receive_from(timeout=10), await console.receive_from(timeout=10)
        await learner_socket.connect(timeout=10)
        await learner_socket.receive_from(timeout=10)
        await learner_socket.send_to(text_data=json.dumps({"choice": "weights", "HEADERS": {}}))
        assert "Your vote is in" in await learner_socket.receive_from(timeout=10)
        tally = await console.receive_from(timeout=10)
        assert "<strong data-answer-count>1</strong>" in tally and "weights" not in tally.split("live-bars")[0]
        await learner_socket.send_to(text_data=json.dumps({"choice": "layers", "HEADERS": {}}))
        assert "Your first vote: <strong>A slice of every weight" in await learner_socket.receive_from(timeout=10)
        assert await console.receive_nothing(timeout=0.2)  # a refused vote changes no tally
        await learner_socket.disconnect(timeout=10)
        await console.disconnect(timeout=10)

    async_to_sync(scenario)()
    assert list(Vote.objects.filter(round=round_).values_list("answer", flat=True)) == ["weights"]


def test_it_ignores_votes_sent_by_the_instructor(client, cohort, classmates, instructor, memory_layer):
    round_ = open_round(cohort, instructor)
    socket = socket_for(client, instructor, cohort)

    async def scenario():
        await socket.connect(timeout=10)
        await socket.receive_from(timeout=10), await socket.receive_from(timeout=10)
        await socket.send_to(text_data=json.dumps({"choice": "weights"}))
        assert await socket.receive_nothing(timeout=0.2)
        await socket.disconnect(timeout=10)

    async_to_sync(scenario)()
    assert not Vote.objects.filter(round=round_).exists()


def test_it_shows_every_learner_the_reveal_at_once(cohort, classmates, instructor, memory_layer):
    from channels.layers import get_channel_layer

    round_ = open_round(cohort, instructor)
    sockets = [socket_for(Client(), learner, cohort) for learner in classmates]

    async def scenario():
        for socket in sockets:
            await socket.connect(timeout=10)
            await socket.receive_from(timeout=10)
        await database_sync_to_async(flow.reveal)(round_)
        await get_channel_layer().group_send(live_group(cohort.pk, LEARNERS), StateEvent(cohort.pk).to_message())
        for socket in sockets:
            page = await socket.receive_from(timeout=10)
            assert "The answer: <strong>A slice of every weight matrix" in page and "<h3>Why</h3>" in page
            assert 'name="choice"' not in page
            await socket.disconnect(timeout=10)

    async_to_sync(scenario)()


def test_it_draws_numeric_votes_as_a_log_histogram(client, cohort, classmates, instructor, memory_layer):
    round_ = open_round(cohort, instructor, NUMBER)
    for learner, value in zip(classmates, (7168, 50)):
        flow.cast_vote(round_, learner, float(value))
    socket = socket_for(client, instructor, cohort)

    async def scenario():
        await socket.connect(timeout=10)
        await socket.receive_from(timeout=10)
        tally = await socket.receive_from(timeout=10)
        assert 'class="live-histogram"' in tally and tally.count('class="bin"') == 2
        assert 'class="answer"' not in tally  # not before the reveal
        await socket.disconnect(timeout=10)

    async_to_sync(scenario)()
