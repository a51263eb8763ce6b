"""The admin stays for data fixes: proper names, answers as the learner saw them, filters by
cohort and lesson."""
from lessons.models import TeachBack
from tests.classroom_helpers import cohort, course, fast_password_hashing, guess, join, step  # noqa: F401


def test_it_names_the_learner_records_properly(admin_client, course):
    index = admin_client.get("/admin/").content.decode()
    for name in ("Guesses", "Lesson progress", "Teach-backs", "Steps opened", "Cohorts", "Memberships"):
        assert f">{name}<" in index, name
    assert "Guesss" not in index and "Progresss" not in index


def test_it_shows_answers_readably_and_filters_by_cohort_and_lesson(admin_client, cohort, learner, other_learner):
    join(cohort, learner)
    guess(learner, "what-tp-splits", "order-mlp", ["colwise", "act", "rowwise", "allreduce"])
    guess(other_learner, "sizing-tp", "valid-70b", ["2", "4"])
    page = admin_client.get("/admin/lessons/guess/").content.decode()
    assert "Gate and up projections on the full input, for this GPU&#x27;s columns → SwiGLU" in page
    assert "TP=2; TP=4" in page and "[&quot;2&quot;" not in page
    in_cohort = admin_client.get(f"/admin/lessons/guess/?cohort={cohort.pk}").content.decode()
    assert "SwiGLU" in in_cohort and "TP=2; TP=4" not in in_cohort
    lesson = step("sizing-tp", "valid-70b").lesson
    by_lesson = admin_client.get(f"/admin/lessons/guess/?step__lesson__id__exact={lesson.pk}").content.decode()
    assert "TP=2; TP=4" in by_lesson and "SwiGLU" not in by_lesson


def test_it_titles_a_teachback_by_learner_and_step(admin_client, course, learner):
    record = TeachBack.objects.create(learner=learner, step=step("what-tp-splits", "teach"), text="x" * 30)
    page = admin_client.get(f"/admin/lessons/teachback/{record.pk}/change/").content.decode()
    assert "ada · what-tp-splits/teach" in page and "TeachBack object" not in page
