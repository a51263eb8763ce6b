"""The page 'Measure all pairs' leads to: my pair runs on that node, each linked."""
import pytest
from django.urls import reverse

from tests.test_cluster_support import WORKED, finished_pair_run, node_from, owned_cluster
from tests.test_cluster_support import fast_password_hashing  # noqa: F401 (autouse)

pytestmark = pytest.mark.django_db


def test_it_lists_my_pair_runs_with_links_to_their_pages(client, learner, other_learner):
    node = node_from(owned_cluster(learner), "nvl4", *WORKED)
    mine = finished_pair_run(learner, node, (2, 3), {64 << 20: 180.0})
    theirs = finished_pair_run(other_learner, node, (0, 1), {64 << 20: 9.0})
    client.force_login(learner)
    html = client.get(reverse("cluster_pair_runs", args=[node.pk])).content.decode()
    assert f'<a href="/lab/runs/{mine.pk}/">run {mine.pk}</a>' in html and "GPU2–GPU3" in html
    assert f"/lab/runs/{theirs.pk}/" not in html
    assert '<span class="status done">done</span>' in html


def test_it_states_the_size_range_the_pair_runs_are_queued_with(client, learner, monkeypatch):
    from tpworkers import clusters

    node = node_from(owned_cluster(learner), "nvl4", *WORKED)
    client.force_login(learner)
    monkeypatch.setattr(clusters, "PAIR_MIN_BYTES", 16 << 20)  # the largest size the findings need
    assert clusters.pair_sweep_params((0, 1))["max_bytes"] == 16 << 20
    html = client.get(reverse("cluster_pair_runs", args=[node.pk])).content.decode()
    assert "One sweep (1 KiB to 16 MiB, P2P on) per pair of GPUs" in html


def test_it_is_not_found_for_someone_elses_cluster(client, learner, other_learner):
    node = node_from(owned_cluster(learner), "nvl4", *WORKED)
    client.force_login(other_learner)
    assert client.get(reverse("cluster_pair_runs", args=[node.pk])).status_code == 404


def test_it_says_which_pair_ran_with_p2p_off_and_when(client, learner):
    node = node_from(owned_cluster(learner), "nvl4", *WORKED)
    wire_off = finished_pair_run(learner, node, (0, 1), {64 << 20: 9.0})
    wire_off.params["p2p"] = False
    wire_off.save()
    finished_pair_run(learner, node, (2, 3), {64 << 20: 180.0})
    client.force_login(learner)
    html = client.get(reverse("cluster_pair_runs", args=[node.pk])).content.decode()
    assert "<td>GPU0–GPU1, P2P off</td>" in html and "<td>GPU2–GPU3</td>" in html
    assert html.count(" s ago</td>") == 2
    assert f'href="/clusters/{node.cluster_id}/#node-{node.pk}">my-rack</a>' in html


def test_it_shows_each_pairs_bandwidth_and_the_findings_it_feeds(client, learner):
    node = node_from(owned_cluster(learner), "nvl4", *WORKED)
    client.force_login(learner)
    before = client.get(reverse("cluster_pair_runs", args=[node.pk])).content.decode()
    assert "all-reduce bandwidth is" not in before
    finished_pair_run(learner, node, (0, 1), {64 << 20: 9.0})  # the pair whose NVLink is down
    html = client.get(reverse("cluster_pair_runs", args=[node.pk])).content.decode()
    assert "9 GB/s" in html and "GPU0-GPU1 all-reduce bandwidth is" in html


def test_it_polls_only_while_a_pair_run_is_active(client, learner):
    from tpworkers.models import ExperimentRun

    node = node_from(owned_cluster(learner), "nvl4", *WORKED)
    run = finished_pair_run(learner, node, (0, 1), {64 << 20: 9.0})
    client.force_login(learner)
    url = reverse("cluster_pair_runs", args=[node.pk])
    done = client.get(url).content.decode()
    assert 'hx-trigger="every 3s"' not in done and "http-equiv=\"refresh\"" not in done
    ExperimentRun.objects.filter(pk=run.pk).update(status="running")
    running = client.get(url).content.decode()
    assert 'hx-trigger="every 3s"' in running and 'http-equiv="refresh"' in running
    fragment = client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert fragment.lstrip().startswith('<div id="pair-progress"') and "<html" not in fragment


def test_it_lists_only_pair_runs_not_lesson_or_wider_runs(client, learner, lab_node):
    """Issue 11: on a GPU-less node it listed lesson runs as pairs and called 4-rank runs "2 CPU ranks"."""
    from tpworkers.clusters import pair_sweep_params
    from tpworkers.models import ExperimentRun

    pair = ExperimentRun.objects.create(owner=learner, node=lab_node, experiment="collective_sweep",
                                        params=pair_sweep_params(()))
    lesson = ExperimentRun.objects.create(owner=learner, node=lab_node, experiment="collective_sweep",
                                          params=pair_sweep_params(()), return_to="/lessons/all-reduce-tax/lab-256k/")
    wide = ExperimentRun.objects.create(owner=learner, node=lab_node, experiment="collective_sweep",
                                        params={**pair_sweep_params(()), "nproc": 4})
    client.force_login(learner)
    html = client.get(reverse("cluster_pair_runs", args=[lab_node.pk])).content.decode()
    assert f"/lab/runs/{pair.pk}/" in html and "<td>2 CPU ranks</td>" in html
    assert f"/lab/runs/{lesson.pk}/" not in html and f"/lab/runs/{wide.pk}/" not in html
