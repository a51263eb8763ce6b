"""An instructor's cohorts: creating one (name, optional dates) gives a join code and link;
sharing it with another instructor."""
from lessons.classroom.models import CODE_ALPHABET, CODE_LENGTH, Cohort
from tests.classroom_helpers import cohort, course, fast_password_hashing, teacher  # noqa: F401


def test_it_creates_a_cohort_with_a_join_code_and_link(teacher, instructor, db):
    response = teacher.post("/teach/", {"name": "Spring 2027", "starts_on": "2027-03-01", "ends_on": "2027-05-31"},
                            follow=True)
    cohort = Cohort.objects.get()
    assert cohort.is_taught_by(instructor) and str(cohort.ends_on) == "2027-05-31"
    assert len(cohort.code) == CODE_LENGTH and set(cohort.code) <= set(CODE_ALPHABET)
    page = response.content.decode()
    assert f"http://testserver/join/{cohort.code}/" in page and "learners join with the code" in page


def test_it_creates_a_cohort_without_dates(teacher, db):
    teacher.post("/teach/", {"name": "Drop-in"})
    assert Cohort.objects.get().starts_on is None


def test_it_refuses_a_cohort_that_ends_before_it_starts(teacher, db):
    response = teacher.post("/teach/", {"name": "Backwards", "starts_on": "2027-05-01", "ends_on": "2027-03-01"})
    assert response.status_code == 400
    assert "would end (2027-03-01) before it starts (2027-05-01)" in response.content.decode()
    assert not Cohort.objects.exists()


def test_it_lists_the_cohorts_with_their_learner_counts(teacher, cohort, learner):
    cohort.memberships.create(learner=learner)
    page = teacher.get("/teach/").content.decode()
    assert "Autumn class" in page and cohort.code in page and "<td>1</td>" in page


def test_it_shares_a_cohort_only_with_an_instructor(teacher, cohort, learner, django_user_model):
    django_user_model.objects.create_user("co-teacher", is_staff=True)
    refused = teacher.post(f"/teach/{cohort.pk}/instructors/", {"username": "ada"}, follow=True).content.decode()
    assert "No instructor is called &#x27;ada&#x27;" in refused
    teacher.post(f"/teach/{cohort.pk}/instructors/", {"username": "co-teacher"})
    assert sorted(cohort.instructors.values_list("username", flat=True)) == ["co-teacher", "teach"]
