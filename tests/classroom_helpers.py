"""Fixtures and helpers shared by the classroom tests (cohorts, the dashboard at /teach/)."""
import io

import pytest
from django.core.management import call_command

from lessons import predictions
from lessons.classroom.models import Cohort, Membership
from lessons.models import Guess, Step


@pytest.fixture
def course(db):
    call_command("loadlessons", stdout=io.StringIO())


@pytest.fixture
def cohort(course, instructor):
    return Cohort.create_for(instructor, name="Autumn class")


@pytest.fixture
def teacher(client, instructor):
    client.force_login(instructor)
    return client


def step(slug: str, key: str) -> Step:
    return Step.objects.select_related("lesson").get(lesson__slug=slug, key=key)


def join(cohort: Cohort, *learners) -> None:
    for learner in learners:
        Membership.objects.create(cohort=cohort, learner=learner)


def guess(learner, slug: str, key: str, *answers) -> None:
    """Commit each answer in turn, judged as the lesson judges it (the first is the first guess)."""
    target = step(slug, key)
    for answer in answers:
        predictions.commit(learner, target, answer)


def make_learners(django_user_model, count: int, prefix: str = "learner") -> list:
    return [django_user_model.objects.create_user(f"{prefix}{i:02d}") for i in range(count)]


def synthetic_answer(step: Step, right: bool, rng):
    """A first guess for ``step``: the answer when ``right``, else a typical wrong one (the
    first wrong choice twice as often as the others, so a misconception stands out)."""
    kind, expected = step.config["kind"], predictions.right_answer(step)
    keys = [option["key"] for option in predictions.options(step)]
    if kind == "numeric":
        return expected if right else expected * rng.choice([0.5, 0.5, 2, 10, 0.1]) * rng.uniform(0.98, 1.02)
    if kind == "ordering":
        return list(expected) if right else [expected[1], expected[0], *expected[2:]]
    if kind == "multiple":
        return list(expected) if right else rng.choice([expected[:-1], keys[:1], keys])
    wrong = [key for key in keys if key != expected]
    return expected if right else rng.choice(wrong[:1] * 2 + wrong)


def synthetic_class(learners: list, seed: int = 16) -> None:
    """Every learner opens every live step and does what it asks: a first guess on each
    prediction (right more often for stronger learners) a few seconds to minutes after opening
    it, a reveal, a recall rating, a teach-back with some ticks, a lab prediction; lessons
    finished by most. Bulk inserts, so 200 learners × 63 steps take seconds."""
    import random
    from datetime import timedelta

    from django.utils import timezone

    from lessons.models import Progress, RecallRating, Reveal, StepOpened, TeachBack

    rng = random.Random(seed)
    steps = list(Step.objects.filter(retired=False).select_related("lesson").order_by("lesson__order", "order"))
    start = timezone.now() - timedelta(days=20)
    opened, guesses, reveals, ratings, teachbacks, progress = [], [], [], [], [], []
    for index, learner in enumerate(learners):
        ability = 0.2 + 0.7 * index / max(1, len(learners) - 1)
        clock = start + timedelta(minutes=rng.randint(0, 60 * 24 * 10))
        visited = {}
        for step in steps:
            clock += timedelta(seconds=rng.randint(20, 400))
            opened.append(StepOpened(learner=learner, step=step, created_at=clock))
            visited.setdefault(step.lesson, []).append(step)
            took = clock + timedelta(seconds=rng.randint(5, 240))
            if step.kind == Step.Kind.PREDICT:
                answer = synthetic_answer(step, rng.random() < ability, rng)
                guesses.append(Guess(learner=learner, step=step, attempt=1, answer=answer,
                                     correct=predictions.judge(step, answer), created_at=took))
                reveals.append(Reveal(learner=learner, step=step, created_at=took))
            elif step.kind == Step.Kind.LAB:
                guesses.append(Guess(learner=learner, step=step, attempt=1, answer=rng.uniform(1, 500), correct=None,
                                     created_at=took))
            elif step.kind == Step.Kind.RECALL:
                ratings.append(RecallRating(learner=learner, step=step, rating=rng.choice(RecallRating.Rating.values),
                                            created_at=took))
            elif step.kind == Step.Kind.TEACHBACK:
                ticks = sorted(rng.sample(range(len(step.config["checklist"])), rng.randint(0, 3)))
                teachbacks.append(TeachBack(learner=learner, step=step, checked=ticks, created_at=took,
                                            text=f"{learner.username} explains {step.key}: the weights are split."))
        for lesson, seen in visited.items():
            progress.append(Progress(learner=learner, lesson=lesson, current_step=seen[-1],
                                     visited=[s.key for s in seen], finished_at=clock if rng.random() < 0.7 else None))
    for model, rows in ((StepOpened, opened), (Guess, guesses), (Reveal, reveals), (RecallRating, ratings),
                        (TeachBack, teachbacks), (Progress, progress)):
        times = [row.created_at for row in rows] if model is not Progress else None
        model.objects.bulk_create(rows, batch_size=500)
        if times:  # auto_now_add stamped them "now" on insert: put the intended times back
            for row, at in zip(rows, times):
                row.created_at = at
            model.objects.bulk_update(rows, ["created_at"], batch_size=500)


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """The learner fixtures hash real passwords: PBKDF2 costs about a second a test here."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def lab_run(learner, slug: str, key: str, time_us: float, node=None):
    """A finished run of a sweep lab step's own preset that measured ``time_us`` at its size."""
    from django.utils import timezone

    from lessons.labs import lab_for
    from tpworkers.measure.configs import SweepConfig
    from tpworkers.models import ExperimentRun, Measurement

    lab = lab_for(step(slug, key).config)
    run = ExperimentRun.objects.create(owner=learner, node=node, experiment=lab.experiment, params=lab.params(),
                                       status="done", finished_at=timezone.now())
    Measurement.objects.bulk_create([
        Measurement(run=run, seq=seq, data={"size_bytes": size, "time_us": time_us if size == lab.target else 1.0,
                                            "busbw_GBps": 1.0})
        for seq, size in enumerate(SweepConfig.from_params(run.params).sizes())])
    return run
