"""'Measure all pairs': one all-reduce run per GPU pair, through the shared run rules."""
import pytest
from django.urls import reverse
from django.utils import timezone

from tpworkers.models import Cluster, ExperimentRun, Node

from tests.test_cluster_support import WORKED, node_from, owned_cluster
from tests.test_cluster_support import fast_password_hashing  # noqa: F401 (autouse)

pytestmark = pytest.mark.django_db


def measure(client, node):
    return client.post(reverse("cluster_measure_pairs", args=[node.pk]))


def test_it_creates_one_all_reduce_run_per_gpu_pair_in_one_press(client, learner, settings):
    settings.MAX_ACTIVE_RUNS_PER_LEARNER = 2  # fewer than the node's 6 pairs: a batch is one request
    node = node_from(owned_cluster(learner), "nvl4", *WORKED)
    client.force_login(learner)
    response = measure(client, node)
    assert response.status_code == 302 and response["Location"] == reverse("cluster_pair_runs", args=[node.pk])
    runs = ExperimentRun.objects.filter(owner=learner, node=node)
    assert sorted(tuple(r.params["gpus"]) for r in runs) == [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]
    assert {(r.params["op"], r.params["nproc"], r.params["max_bytes"], r.status) for r in runs} == {
        ("all_reduce", 2, 64 << 20, "queued")}


def test_it_refuses_a_batch_while_the_learner_is_at_the_limit(client, learner, settings):
    settings.MAX_ACTIVE_RUNS_PER_LEARNER = 2
    node = node_from(owned_cluster(learner), "nvl4", *WORKED)
    client.force_login(learner)
    for gpus in ([0, 1], [2, 3]):
        ExperimentRun.objects.create(owner=learner, node=node, experiment="collective_sweep",
                                     params={"op": "all_reduce", "gpus": gpus})
    html = client.post(reverse("cluster_measure_pairs", args=[node.pk]), follow=True).content.decode()
    assert ExperimentRun.objects.filter(owner=learner).count() == 2
    assert "the limit is 2" in html


def test_it_skips_the_pairs_already_being_measured(client, learner, settings):
    settings.MAX_ACTIVE_RUNS_PER_LEARNER = 10
    node = node_from(owned_cluster(learner), "nvl4", *WORKED)
    client.force_login(learner)
    ExperimentRun.objects.create(owner=learner, node=node, experiment="collective_sweep",
                                 params={"op": "all_reduce", "gpus": [0, 1]})
    measure(client, node)
    queued = sorted(tuple(r.params["gpus"]) for r in ExperimentRun.objects.filter(owner=learner))
    assert queued == [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]  # (0, 1) once, not twice
    measure(client, node)
    assert ExperimentRun.objects.filter(owner=learner).count() == 6


def test_it_runs_one_cpu_all_reduce_on_a_node_without_gpus(client, learner):
    node = Node.objects.create(cluster=Cluster.default(), hostname="laptop", queue="q.laptop",
                               gpu_count=0, last_heartbeat_at=timezone.now())
    client.force_login(learner)
    html = client.post(reverse("cluster_measure_pairs", args=[node.pk]), follow=True).content.decode()
    [run] = ExperimentRun.objects.all()
    assert "gpus" not in run.params and run.params["max_bytes"] == 4 << 20
    assert "This node has no GPUs" in html and f'href="/lab/runs/{run.pk}/"' in html


def test_it_refuses_an_offline_node(client, learner):
    node = node_from(owned_cluster(learner), "nvl4", *WORKED, online=False)
    client.force_login(learner)
    html = client.post(reverse("cluster_measure_pairs", args=[node.pk]), follow=True).content.decode()
    assert not ExperimentRun.objects.exists() and "nvl4 is offline" in html


def test_it_keeps_another_learner_off_my_nodes(client, learner, other_learner):
    node = node_from(owned_cluster(learner), "nvl4", *WORKED)
    client.force_login(other_learner)
    assert measure(client, node).status_code == 404 and not ExperimentRun.objects.exists()


@pytest.mark.django_db
def test_it_labels_pair_sweep_rows_as_the_form_does(learner, lab_node):
    """A pair batch and a form run of the same sweep store the same parameters and show the same
    row labels ('1 KiB', not '1K')."""
    from tpworkers.clusters import pair_sweep_params
    from tpworkers.forms import SweepForm
    from tpworkers.models import ExperimentRun

    form = SweepForm({**SweepForm.defaults(), "max_size": "4M", "factor": "4", "min_size": "1K"})
    assert form.is_valid(), form.errors
    by_form = {k: v for k, v in form.run_params().items() if k not in ("gpus", "p2p")}
    assert pair_sweep_params(()) == by_form
    run = ExperimentRun(experiment="collective_sweep", params=pair_sweep_params(()))
    assert run.planned_rows()[:2] == ["1 KiB", "4 KiB"] and run.planned_rows()[-1] == "4 MiB"
