"""Downloads: each table as CSV with its columns, and the cohort as JSON under pseudonyms."""
import csv
import io
import json
from datetime import timedelta

from django.db import connection
from django.test.utils import CaptureQueriesContext

from lessons.models import Guess, Step, StepOpened
from tests.classroom_helpers import (  # noqa: F401
    cohort, course, fast_password_hashing, guess, join, lab_run, make_learners, step, synthetic_class, teacher,
)

COLUMNS = {
    "progress": ["learner", "lesson", "status", "at_step", "steps_done", "steps_total", "last_activity_utc", "stuck"],
    "answers": ["learner", "lesson", "step", "kind", "first_guess", "first_guess_raw", "correct", "attempts",
                "opened_at_utc", "first_guess_at_utc", "seconds_to_first_guess"],
    "items": ["lesson", "step", "title", "kind", "learners_answered", "guesses", "facility_index",
              "discrimination_index", "median_seconds_to_first_guess", "queue_reviews", "retention", "flags"],
    "misconceptions": ["lesson", "step", "title", "most_common_wrong_answer", "learners", "answered", "share"],
    "teachbacks": ["learner", "lesson", "step", "text", "ticked", "ticked_count", "checklist_count", "shared",
                   "exemplary", "comments"],
    "labs": ["learner", "lesson", "step", "predicted", "measured", "unit", "measured_over_predicted", "run",
             "run_status", "fitting_runs"],
    "findings": ["cluster", "node", "learners", "severity", "title", "lesson"],
}


def download(client, cohort, table: str) -> list[dict]:
    response = client.get(f"/teach/{cohort.pk}/export/{table}.csv")
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="autumn-class-')
    reader = csv.reader(io.StringIO(response.content.decode()))
    header = next(reader)
    assert header == COLUMNS[table], table
    return [dict(zip(header, row)) for row in reader]


def test_it_exports_every_table_with_its_columns(teacher, cohort, django_user_model):
    join(cohort, *make_learners(django_user_model, 3))
    synthetic_class(list(cohort.learners()))
    for table in COLUMNS:
        rows = download(teacher, cohort, table)
        assert rows or table == "findings", table


def test_it_exports_one_row_per_learner_and_step_with_first_guess_correct_and_time(teacher, cohort, learner):
    join(cohort, learner)
    target = step("what-tp-splits", "what-is-split")
    opened = StepOpened.objects.create(learner=learner, step=target)
    guess(learner, "what-tp-splits", "what-is-split", "requests", "weights")
    Guess.objects.filter(attempt=1).update(created_at=opened.created_at + timedelta(seconds=42))
    rows = download(teacher, cohort, "answers")
    assert len(rows) == Step.objects.filter(retired=False, kind__in=["predict", "lab"]).count()
    row = next(r for r in rows if r["step"] == "what-is-split")
    assert row["learner"] == "ada" and row["kind"] == "single" and row["correct"] == "no" and row["attempts"] == "2"
    assert row["first_guess"] == "Its share of the incoming requests; this one goes to one GPU"
    assert row["first_guess_raw"] == '"requests"' and row["seconds_to_first_guess"] == "42"
    unanswered = next(r for r in rows if r["step"] == "gate-columns")
    assert (unanswered["first_guess"], unanswered["correct"], unanswered["attempts"]) == ("", "", "0")


def test_it_refuses_an_unknown_table(teacher, cohort):
    assert teacher.get(f"/teach/{cohort.pk}/export/grades.csv").status_code == 404


def test_it_exports_the_cohort_as_json_without_usernames(teacher, cohort, learner, other_learner):
    join(cohort, learner, other_learner)
    guess(other_learner, "what-tp-splits", "what-is-split", "weights")
    lab_run(learner, "all-reduce-tax", "lab-256k", 50.0)
    response = teacher.get(f"/teach/{cohort.pk}/export/cohort.json")
    data = json.loads(response.content)
    assert [row["learner"] for row in data["learners"]] == ["L001", "L002"]
    assert data["guesses"] == [{"learner": "L002", "step": "what-tp-splits/what-is-split", "at": data["guesses"][0]["at"],
                                "attempt": 1, "answer": "weights", "correct": True}]
    assert data["runs"][0]["learner"] == "L001" and data["runs"][0]["status"] == "done"
    assert len(data["steps"]) == Step.objects.filter(retired=False).count() and data["cohort"]["name"] == "Autumn class"
    assert "ada" not in response.content.decode() and "grace" not in response.content.decode()


def test_it_exports_the_answers_in_the_same_number_of_queries_for_a_bigger_class(teacher, cohort, django_user_model,
                                                                                  django_assert_max_num_queries):
    join(cohort, *make_learners(django_user_model, 2, "small"))
    synthetic_class(list(cohort.learners()))
    with CaptureQueriesContext(connection) as small:
        for table in COLUMNS:
            teacher.get(f"/teach/{cohort.pk}/export/{table}.csv")
    more = make_learners(django_user_model, 10, "big")
    join(cohort, *more)
    synthetic_class(more, seed=7)
    with django_assert_max_num_queries(len(small)):
        for table in COLUMNS:
            teacher.get(f"/teach/{cohort.pk}/export/{table}.csv")
