import io

import pytest
from django.core.management import CommandError, call_command

from lessons import loader
from lessons.models import Guess, Lesson, Step


def load() -> str:
    out = io.StringIO()
    call_command("loadlessons", stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_it_loads_nine_lessons_and_changes_nothing_the_second_time():
    first = load()
    snapshot = list(Step.objects.values_list("id", "key", "config"))
    second = load()
    assert Lesson.objects.count() == 9 and "created" in first
    assert second.count("unchanged") == 9
    assert list(Step.objects.values_list("id", "key", "config")) == snapshot


@pytest.mark.django_db
def test_it_updates_an_edited_lesson_and_keeps_learners_attempts(learner, monkeypatch):
    load()
    step = Step.objects.get(lesson__slug="what-tp-splits", key="what-is-split")
    Guess.objects.create(learner=learner, step=step, attempt=1, answer="weights", correct=True)
    course = loader.read_course()
    lesson = next(l for l in course if l["slug"] == "what-tp-splits")
    lesson["steps"][1]["prompt"] = "An edited prompt."
    lesson["steps"] = [s for s in lesson["steps"] if s["id"] != "intro"]
    monkeypatch.setattr(loader, "read_course", lambda: course)
    report = load()
    step.refresh_from_db()
    assert "what-tp-splits: updated" in report and "1 retired" in report
    assert step.config["prompt"] == "An edited prompt." and Guess.objects.filter(step=step).count() == 1
    assert Step.objects.get(lesson__slug="what-tp-splits", key="intro").retired


@pytest.mark.django_db
def test_it_loads_nothing_when_a_lesson_is_invalid(monkeypatch):
    course = loader.read_course()
    course[0]["steps"][0]["body"] = "This all-reduce moves 256 KiB."
    monkeypatch.setattr(loader, "read_lesson_file", lambda path: course[loader.lesson_files().index(path)])
    with pytest.raises(CommandError, match="hand-typed figure '256 KiB'"):
        load()
    assert not Lesson.objects.exists()
