"""A live class end to end through the real pieces: daphne, a private Redis as the channel
layer, and several learners on websockets voting in one round the instructor drives over HTTP."""
import json
from contextlib import ExitStack
import re
import time

import pytest
from websockets.sync.client import connect

from tests.live import Browserless

pytestmark = pytest.mark.live

COUNT = re.compile(r"<strong data-answer-count>(\d+)</strong>")


def _signed_up(lab, name: str, code: str) -> Browserless:
    session = Browserless(lab)
    session.get("/accounts/signup/")
    session.post("/accounts/signup/", {"username": name, "password1": "a-live-class-pw-9", "password2": "a-live-class-pw-9"})
    session.post(f"/join/{code}/", {})
    return session


def _socket(lab, session, cohort_id):
    return connect(f"ws://127.0.0.1:{lab.port}/ws/live/{cohort_id}/", open_timeout=20,
                   additional_headers={"Cookie": session.cookie_header(), "Origin": lab.url})


def _until(socket, text: str, timeout_s: float = 30) -> str:
    deadline = time.monotonic() + timeout_s
    while True:
        message = socket.recv(timeout=max(0.1, deadline - time.monotonic()))
        if text in message:
            return message


def test_it_runs_a_round_for_several_learners_over_websockets(live_lab):
    live_lab.manage("loadlessons")
    live_lab.create_user("liveteacher", "a-live-teacher-pw-7", staff=True)
    teacher = Browserless(live_lab)
    teacher.login("liveteacher", "a-live-teacher-pw-7")
    created = teacher.post("/teach/", {"name": "Live end to end"})
    cohort_id = int(re.search(r"/teach/(\d+)/", created.geturl()).group(1))
    code = re.search(r'class="code-badge"[^>]*>([A-Z0-9]+)<', created.read().decode()).group(1)
    learners = [_signed_up(live_lab, f"livelearner{i}", code) for i in range(3)]
    step_id = re.search(r'<option value="(\d+)" >What does each GPU get\?',
                        teacher.get(f"/teach/live/{cohort_id}/").read().decode()).group(1)

    with _socket(live_lab, teacher, cohort_id) as console, ExitStack() as stack:
        _until(console, 'id="live-tally"')
        sockets = [stack.enter_context(_socket(live_lab, session, cohort_id)) for session in learners]
        for socket in sockets:
            _until(socket, "Waiting for your instructor")
        teacher.post(f"/teach/live/{cohort_id}/open/", {"step": step_id})
        for socket in sockets:
            _until(socket, 'name="choice"')  # moved to the step, live
        for socket, choice in zip(sockets, ("weights", "layers", "weights")):
            socket.send(json.dumps({"choice": choice, "HEADERS": {}}))
            _until(socket, "Your vote is in")
        sockets[0].send(json.dumps({"choice": "layers", "HEADERS": {}}))
        assert "Your vote is already in" in _until(sockets[0], "live-learner")
        tally = ""
        while not COUNT.search(tally) or COUNT.search(tally).group(1) != "3":
            tally = _until(console, 'id="live-tally"')
        assert "livelearner" not in tally

        teacher.post(f"/teach/live/{cohort_id}/reveal/", {})
        for socket in sockets:
            assert "<h3>Why</h3>" in _until(socket, "The answer:")
    with _socket(live_lab, learners[1], cohort_id) as late:  # a reload after the reveal
        page = _until(late, 'id="live-learner"')
        assert "The answer:" in page and "Your first vote: <strong>Its share of the layers" in page
    teacher.post(f"/teach/live/{cohort_id}/end/", {})
    votes = live_lab.query("list(__import__('lessons.liveclass.models', fromlist=['Vote']).Vote.objects"
                           f".filter(round__session__cohort_id={cohort_id}, number=1)"  # this class's first votes: the lab is shared
                           ".order_by('learner__username').values_list('answer', flat=True))")
    assert votes == ["weights", "layers", "weights"]
