"""Fixtures shared by the live class tests: a cohort with learners and a way to drive it."""
import pytest
from channels.testing import WebsocketCommunicator

from labapp.asgi import application
from lessons.liveclass import flow
from tests.classroom_helpers import cohort, course, fast_password_hashing, join, step  # noqa: F401

CHOICE = ("what-tp-splits", "what-is-split")  # single choice, answer "weights"
NUMBER = ("what-tp-splits", "gate-columns")  # numeric


@pytest.fixture
def classmates(cohort, learner, other_learner):
    join(cohort, learner, other_learner)
    return learner, other_learner


def open_round(cohort, instructor, key=CHOICE):
    return flow.start_round(cohort, instructor, step(*key).pk)


def socket_for(client, user, cohort, query: str = ""):
    """A websocket to the cohort's live class, logged in as ``user`` (None: anonymous); the
    console's page asks with ``?controls=1``."""
    headers = [(b"origin", b"http://localhost")]
    if user is not None:
        client.force_login(user)
        headers.append((b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()))
    return WebsocketCommunicator(application, f"/ws/live/{cohort.pk}/{query}", headers=headers)
