"""What counts as a done step, for one learner and for a class (lessons.state.done_step_ids):
the same answer whether the learners come as ids or as a query, as the dashboard asks."""
from django.contrib.auth import get_user_model

from lessons.models import Guess, Progress, RecallRating, Reveal, Step, TeachBack
from lessons.state import done_keys, done_step_ids


def _steps(slug: str) -> list[Step]:
    return list(Step.objects.filter(lesson__slug=slug, retired=False))


def test_it_counts_each_kind_of_record_and_a_lab_guess_only_on_a_lab(course, learner, other_learner):
    steps = {s.kind: s for s in _steps("all-reduce-tax") + _steps("what-tp-splits")}
    Reveal.objects.create(learner=learner, step=steps["predict"])
    RecallRating.objects.create(learner=learner, step=steps["recall"], rating="good")
    TeachBack.objects.create(learner=other_learner, step=steps["teachback"], text="two all-reduces per layer")
    Guess.objects.create(learner=other_learner, step=steps["lab"], attempt=1, answer=30.0)
    Guess.objects.create(learner=other_learner, step=steps["predict"], attempt=1, answer="requests")  # not done: no reveal
    everything = list(steps.values())
    as_ids = done_step_ids([learner.pk, other_learner.pk], everything)
    as_query = done_step_ids(get_user_model().objects.values("id"), everything)  # a query with no parameters
    assert as_ids == as_query == {learner.pk: {steps["predict"].pk, steps["recall"].pk},
                                  other_learner.pk: {steps["teachback"].pk, steps["lab"].pk}}
    assert done_step_ids([], everything) == {}


def test_it_counts_a_shown_step_done_once_opened(course, learner):
    steps = _steps("what-tp-splits")
    read = next(s for s in steps if s.kind == Step.Kind.READ)
    assert read.key not in done_keys(learner, read.lesson, steps)
    Progress.objects.create(learner=learner, lesson=read.lesson, visited=[read.key])
    assert read.key in done_keys(learner, read.lesson, steps)
    assert read.key in done_keys(learner, read.lesson, steps, opened=[read.key])
