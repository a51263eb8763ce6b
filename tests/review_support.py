"""Shared set-up of the review-queue tests: the course loaded, a learner logged in."""
import io
import re

import pytest
from django.core.management import call_command

from lessons.models import Step


@pytest.fixture
def course(db):
    call_command("loadlessons", stdout=io.StringIO())


@pytest.fixture
def logged_in(client, learner, course):
    client.force_login(learner)
    return client


def step(key: str, slug: str = "what-tp-splits") -> Step:
    return Step.objects.get(lesson__slug=slug, key=key)


def token_in(html: str) -> str:
    return re.search(r'name="token" value="([^"]+)"', html).group(1)


HTMX = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "review"}
