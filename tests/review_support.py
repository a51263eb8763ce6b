"""Shared helpers of the review-queue tests (the course and a logged-in learner: conftest.py)."""
import re

from lessons.models import Step


def step(key: str, slug: str = "what-tp-splits") -> Step:
    return Step.objects.get(lesson__slug=slug, key=key)


def token_in(html: str) -> str:
    return re.search(r'name="token" value="([^"]+)"', html).group(1)


HTMX = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "review"}
