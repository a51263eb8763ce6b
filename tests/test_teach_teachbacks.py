"""Teach-backs: a step's explanations beside the model answer and each learner's ticks; a
comment the learner sees; the exemplary mark, only with the author's consent, shown to the
class after each learner wrote their own, without the author's name."""
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from lessons.classroom.models import Cohort, Exemplary, TeachBackComment
from lessons.models import TeachBack
from tests.classroom_helpers import (  # noqa: F401
    cohort, course, fast_password_hashing, join, make_learners, step, synthetic_class, teacher,
)

STEP = "/lessons/what-tp-splits/teach/"
TEXT = "TP splits the weights; column then row parallel, then one all-reduce per block."


def write(learner, text: str = TEXT, ticks=(0, 3)) -> TeachBack:
    return TeachBack.objects.create(learner=learner, step=step("what-tp-splits", "teach"), text=text, checked=list(ticks))


def as_learner(learner) -> Client:
    client = Client()
    client.force_login(learner)
    return client


def test_it_shows_each_teachback_beside_the_model_answer_with_its_ticks(teacher, cohort, learner):
    join(cohort, learner)
    record = write(learner)
    page = teacher.get(f"/teach/{cohort.pk}/teachbacks/?step={record.step_id}").content.decode()
    assert "The model answer" in page and "TP splits the weight matrices of every layer" in page
    assert TEXT in page and "2 of 5 ticked by the learner" in page
    assert '<li class="ticked"><span aria-hidden="true">✓</span> Weights are split' in page
    assert '<li class="unticked"><span aria-hidden="true">·</span> Column-parallel splits outputs' in page


def test_it_delivers_a_comment_to_the_learner_only(teacher, cohort, learner, other_learner):
    join(cohort, learner, other_learner)
    record = write(learner)
    write(other_learner)
    response = teacher.post(f"/teach/{cohort.pk}/teachbacks/{record.pk}/comment/", {"text": "Good: now say why SwiGLU."})
    assert response.status_code == 302 and response["Location"].endswith(f"#tb-{record.pk}")
    assert "Good: now say why SwiGLU." in as_learner(learner).get(STEP).content.decode()
    assert "Good: now say why SwiGLU." not in as_learner(other_learner).get(STEP).content.decode()


def test_it_refuses_an_empty_or_overlong_comment_naming_the_problem(teacher, cohort, learner):
    join(cohort, learner)
    record = write(learner)
    url = f"/teach/{cohort.pk}/teachbacks/{record.pk}/comment/"
    empty = teacher.post(url, {"text": "  "}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET=f"tb-{record.pk}")
    assert empty.status_code == 400 and "Write the comment first." in empty.content.decode()
    long = teacher.post(url, {"text": "x" * 1001}, follow=True)
    assert "under 1000 characters (this one has 1001)" in long.content.decode()
    assert not TeachBackComment.objects.exists()


def test_it_shows_an_exemplary_teachback_only_with_consent_and_after_writing_ones_own(teacher, cohort, django_user_model):
    author, classmate, late, elsewhere = make_learners(django_user_model, 4)
    join(cohort, author, classmate, late)
    Cohort.create_for(django_user_model.objects.create_user("t2", is_staff=True), name="Other").memberships.create(
        learner=elsewhere)
    record = write(author, "An explanation worth showing: weights split, one all-reduce per block.")
    write(classmate)
    write(elsewhere)
    mark = f"/teach/{cohort.pk}/teachbacks/{record.pk}/exemplary/"
    refused = teacher.post(mark, {"exemplary": "1"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET=f"tb-{record.pk}")
    assert refused.status_code == 400 and "has not agreed to share" in refused.content.decode()
    assert not Exemplary.objects.exists()

    as_learner(author).post(f"/classes/teachbacks/{record.pk}/share/", {"shared": "1"})
    swapped = teacher.post(mark, {"exemplary": "1"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET=f"tb-{record.pk}")
    assert swapped.status_code == 200 and "Stop showing it to the class" in swapped.content.decode()
    assert "<html" not in swapped.content.decode()
    classmate_page = as_learner(classmate).get(STEP).content.decode()
    assert "Explanations your class was shown" in classmate_page and "worth showing" in classmate_page
    assert author.username not in classmate_page
    assert "worth showing" not in as_learner(late).get(STEP).content.decode()  # not written yet
    assert "worth showing" not in as_learner(elsewhere).get(STEP).content.decode()  # another cohort

    as_learner(author).post(f"/classes/teachbacks/{record.pk}/share/", {"shared": "0"})  # consent withdrawn
    assert "worth showing" not in as_learner(classmate).get(STEP).content.decode()


def test_it_lets_only_the_author_give_consent(cohort, learner, other_learner):
    record = write(learner)
    assert as_learner(other_learner).post(f"/classes/teachbacks/{record.pk}/share/", {"shared": "1"}).status_code == 404


def test_it_renders_in_the_same_number_of_queries_for_a_bigger_class(teacher, cohort, django_user_model,
                                                                      django_assert_max_num_queries):
    join(cohort, *make_learners(django_user_model, 2, "small"))
    synthetic_class(list(cohort.learners()))
    url = f"/teach/{cohort.pk}/teachbacks/"
    with CaptureQueriesContext(connection) as small:
        teacher.get(url)
    more = make_learners(django_user_model, 10, "big")
    join(cohort, *more)
    synthetic_class(more, seed=6)
    for record in TeachBack.objects.all()[:5]:
        TeachBackComment.objects.create(cohort=cohort, teachback=record, text="more on heads, please")
    with django_assert_max_num_queries(len(small)):
        page = teacher.get(url).content.decode()
    assert page.count('class="card teachback') == 12
