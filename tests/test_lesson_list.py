"""The course page: every lesson with the learner's progress through it."""
from django.db import connection
from django.test.utils import CaptureQueriesContext

from lessons.models import Lesson


def _queries(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/lessons/").status_code == 200
    return len(queries)


def test_it_reads_the_course_in_a_few_queries_however_many_lessons_are_started(logged_in):
    """A class opens the course page together: it read every lesson's progress, done steps and
    step count one lesson at a time: three queries a lesson."""
    lessons = list(Lesson.objects.all())
    assert len(lessons) > 4
    logged_in.get(f"/lessons/{lessons[0].slug}/", follow=True)
    one_started = _queries(logged_in)
    for lesson in lessons[1:]:
        logged_in.get(f"/lessons/{lesson.slug}/", follow=True)  # opens its first step: in progress
    all_started = _queries(logged_in)
    assert all_started == one_started <= 8
    page = logged_in.get("/lessons/").content.decode()
    assert page.count("in progress") == len(lessons)


def test_it_shows_each_lesson_s_own_count_of_steps_done(logged_in):
    first, second = Lesson.objects.all()[:2]
    steps = list(first.live_steps())
    logged_in.get(f"/lessons/{first.slug}/{steps[0].key}/")
    page = logged_in.get("/lessons/").content.decode()
    done_first = 1 if steps[0].kind in ("read", "calculator", "decision", "cluster", "torchrun") else 0
    assert f"{done_first} of {len(steps)} steps done" in page
    assert f"not started · {second.live_steps().count()} steps" in page
