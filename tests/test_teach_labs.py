"""Labs and clusters for a cohort: who measured what, each learner's lab prediction against
their measurement, and findings by severity on the nodes the cohort uses."""
import re

from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.classroom_helpers import (  # noqa: F401
    cohort, course, fast_password_hashing, guess, join, lab_run, make_learners, teacher,
)
from tests.test_cluster_support import WORKED, node_from, owned_cluster


def cells(page: str, username: str) -> list[str]:
    row = re.search(rf"<tr><td>{username}</td>(.*?)</tr>", page, re.S).group(1)
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", cell)).strip() for cell in re.findall(r"<td>(.*?)</td>", row, re.S)]


def test_it_sets_each_learners_prediction_beside_their_measurement(teacher, cohort, learner, other_learner):
    join(cohort, learner, other_learner)
    guess(learner, "all-reduce-tax", "lab-256k", 100.0)
    lab_run(learner, "all-reduce-tax", "lab-256k", 50.0)
    lab_run(learner, "all-reduce-tax", "lab-256k", 40.0)  # the newest run is the one compared
    guess(other_learner, "all-reduce-tax", "lab-256k", 30.0)
    page = teacher.get(f"/teach/{cohort.pk}/labs/").content.decode()
    assert cells(page, "ada")[0] == "predicted 100 measured 40 measured 0.4× the prediction 2 runs"
    assert cells(page, "grace")[0] == "predicted 30"
    assert "Measure one all-reduce</a>: 1 learner measured it, 2 runs" in page


def test_it_compares_a_versus_lab_with_the_learners_run_of_the_other_step(teacher, cohort, learner):
    join(cohort, learner)
    guess(learner, "the-wire", "lab-pair-p2p-off", 4.0)
    lab_run(learner, "the-wire", "lab-pair", 100.0)
    lab_run(learner, "the-wire", "lab-pair-p2p-off", 300.0)
    lab_run(learner, "all-reduce-tax", "lab-256k", 7.0)  # newer, of another step: not mixed in
    page = teacher.get(f"/teach/{cohort.pk}/labs/").content.decode()
    assert cells(page, "ada")[2] == "predicted 4 measured 3 measured 0.75× the prediction 1 run"


def test_it_counts_findings_by_severity_on_the_cohorts_clusters(teacher, cohort, learner, other_learner):
    join(cohort, learner)
    node_from(owned_cluster(learner, "ada-rack"), "gpu-a", *WORKED)
    node_from(owned_cluster(other_learner, "not-in-cohort"), "gpu-b", *WORKED)
    page = teacher.get(f"/teach/{cohort.pk}/labs/").content.decode()
    assert "ada-rack / gpu-a" in page and "not-in-cohort" not in page
    assert "Learners: ada" in page
    assert re.search(r'<span class="sev critical">[1-9]\d* critical</span>', page)
    assert "NVLink" in page


def test_it_renders_in_the_same_number_of_queries_for_a_bigger_class(teacher, cohort, django_user_model,
                                                                      django_assert_max_num_queries):
    def add(count: int, prefix: str):
        learners = make_learners(django_user_model, count, prefix)
        join(cohort, *learners)
        for learner in learners:
            guess(learner, "all-reduce-tax", "lab-256k", 100.0)
            lab_run(learner, "all-reduce-tax", "lab-256k", 50.0)
            lab_run(learner, "the-wire", "lab-pair", 20.0)

    add(2, "small")
    node_from(owned_cluster(cohort.learners().first()), "gpu-a", *WORKED)
    with CaptureQueriesContext(connection) as small:
        teacher.get(f"/teach/{cohort.pk}/labs/")
    add(8, "big")
    with django_assert_max_num_queries(len(small)):
        page = teacher.get(f"/teach/{cohort.pk}/labs/").content.decode()
    assert "10 learners measured it, 10 runs" in page
