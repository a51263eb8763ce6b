"""The lessons admin: lesson fields pass the lesson-file validator, and the page says that the
files win over admin edits."""
import io

import pytest
from django.core.management import call_command

from lessons.models import Lesson

URL = "/admin/lessons/lesson/{}/change/"


@pytest.fixture
def superuser_client(client, db, django_user_model):
    call_command("loadlessons", stdout=io.StringIO())
    client.force_login(django_user_model.objects.create_superuser("root", password="pw-for-tests-only-4"))
    return client


def lesson_form(lesson: Lesson, **changes) -> dict:
    import json

    data = {"slug": lesson.slug, "order": lesson.order, "title": lesson.title, "goal": lesson.goal,
            "analogy": lesson.analogy, "infra_bridge": lesson.infra_bridge, "sources": json.dumps(lesson.sources),
            "steps-TOTAL_FORMS": "0", "steps-INITIAL_FORMS": "0", "steps-MIN_NUM_FORMS": "0",
            "steps-MAX_NUM_FORMS": "1000"}
    return {**data, **changes}


def test_it_refuses_a_lesson_goal_with_a_hand_typed_figure_and_saves_nothing(superuser_client):
    lesson = Lesson.objects.get(slug="all-reduce-tax")
    goal = "Learn why it costs 160 all-reduces."
    response = superuser_client.post(URL.format(lesson.pk), lesson_form(lesson, goal=goal))
    assert response.status_code == 200 and "hand-typed figure &#x27;160 all-reduces&#x27;" in response.content.decode()
    lesson.refresh_from_db()
    assert "160" not in lesson.goal


def test_it_refuses_a_source_without_an_https_url(superuser_client):
    lesson = Lesson.objects.get(slug="all-reduce-tax")
    response = superuser_client.post(URL.format(lesson.pk), lesson_form(lesson, sources='[{"title": "a blog"}]'))
    assert "source 1 needs a title and an https url" in response.content.decode()


def test_it_saves_a_valid_edit_and_says_the_file_wins_on_its_next_change(superuser_client):
    lesson = Lesson.objects.get(slug="all-reduce-tax")
    page = superuser_client.get(URL.format(lesson.pk)).content.decode()
    assert "source of truth" in page and "rewrites the lesson" in page
    response = superuser_client.post(URL.format(lesson.pk), lesson_form(lesson, goal="Count what TP costs per token."))
    assert response.status_code == 302
    lesson.refresh_from_db()
    assert lesson.goal == "Count what TP costs per token."
