"""The cluster page: matrix, NVLink state, heatmap, findings, node status, who may see it."""
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from tpworkers.models import NodeDeployment
from tpworkers.diagnose.deployments import parse_launch_line
from tpworkers.models import Cluster, Node

from tests.test_cluster_support import WORKED, WORKED_LINE, finished_pair_run, node_from, owned_cluster
from tests.test_cluster_support import fast_password_hashing  # noqa: F401 (autouse)

pytestmark = pytest.mark.django_db


def page(client, cluster):
    response = client.get(reverse("cluster_detail", args=[cluster.pk]))
    assert response.status_code == 200
    return response.content.decode()


def test_it_renders_the_8_h100_matrix_with_nv18_and_nic_columns(client, learner):
    cluster = owned_cluster(learner)
    node_from(cluster, "dgx1", "h100-sxm-8gpu.topo-m.txt")
    client.force_login(learner)
    html = page(client, cluster)
    assert html.count('class="nv-high" title="GPU0-GPU1: NVLink, a bonded set of 18 links">NV18<') == 1
    assert html.count(">NV18<") == 56 and "<th>NIC3</th>" in html and "NIC0 = mlx5_0" in html
    assert 'class="prov reported">reported' in html and "pasted nvidia-smi" in html


def test_it_says_how_many_links_a_bridged_h100_pcie_has_wired(client, learner):
    cluster = owned_cluster(learner)
    node_from(cluster, "pcie-box", "../real/nvsmi/h100-pcie-bridged.nvlink-s.txt")
    client.force_login(learner)
    html = page(client, cluster)
    assert ('12 of 17 <span class="muted">(12 wired on this product <span class="prov modelled">modelled</span> '
            '<span class="small">catalog wiring (bridge): 80 GB HBM2e, 2 TB/s, NVLink bridge 600 GB/s, '
            'NVIDIA H100 Tensor Core GPU datasheet') in html  # a datasheet figure, cited as the findings cite it
    assert "link-down" not in html and "schedule a repair" not in html


def test_it_shows_the_worked_scenarios_findings_with_provenance_badges(client, learner):
    cluster = owned_cluster(learner)
    node = node_from(cluster, "nvl4", *WORKED)
    NodeDeployment.from_deployment(node, learner, parse_launch_line(WORKED_LINE)).save()
    client.force_login(learner)
    html = page(client, cluster)
    assert "The NVLink between GPU0 and GPU1 is down" in html
    assert "This TP group&#x27;s all-reduces cross PCIe" in html
    assert "TP=2 is not needed" in html
    assert '<a class="lesson" href="/lessons/the-wire/">' in html
    assert '<a class="lesson" href="/lessons/tp-or-replicas/">' in html
    for provenance in ("reported", "modelled"):
        assert f'<span class="prov {provenance}">{provenance}</span>' in html
    assert html.count('class="link-down"') == 2  # GPU0 and GPU1: 0 of 12 links


def test_it_puts_a_measured_pair_beside_its_modelled_peak(client, learner):
    cluster = owned_cluster(learner)
    node = node_from(cluster, "nvl4", *WORKED)
    finished_pair_run(learner, node, (0, 1), {1 << 20: 30.0, 64 << 20: 9.5})
    run = finished_pair_run(learner, node, (2, 3), {64 << 20: 180.0})
    client.force_login(learner)
    html = page(client, cluster)
    assert '<span class="busbw">180</span><span class="peak">/ 300</span>' in html
    assert '<span class="busbw">9.5</span><span class="peak">/ 64</span>' in html
    assert "9.5 GB/s <span class=\"prov measured\">measured</span>" in html
    assert f'href="/lab/runs/{run.pk}/"' in html
    # the slow pair is also a finding, measured
    assert "GPU0-GPU1 all-reduce bandwidth is" in html


def test_it_shows_an_offline_node_offline_and_an_online_one_online(client, learner):
    cluster = Cluster.default()
    Node.objects.create(cluster=cluster, hostname="gone", queue="q.gone",
                        last_heartbeat_at=timezone.now() - timedelta(minutes=10))
    Node.objects.create(cluster=cluster, hostname="here", queue="q.here", torch_version="2.5.1",
                        last_heartbeat_at=timezone.now() - timedelta(seconds=5))
    client.force_login(learner)
    html = page(client, cluster)
    gone, here = html.split('id="node-')[1:3]
    assert 'class="node-state offline">offline' in gone and "last heartbeat 10 min ago" in gone
    assert 'class="node-state online">online' in here and "torch 2.5.1" in here
    assert "last heartbeat 5 s ago" in here or "last heartbeat 6 s ago" in here


def test_it_hides_my_cluster_from_another_learner(client, learner, other_learner, instructor):
    cluster = owned_cluster(learner)
    client.force_login(other_learner)
    assert client.get(reverse("cluster_detail", args=[cluster.pk])).status_code == 404
    client.force_login(instructor)
    assert client.get(reverse("cluster_detail", args=[cluster.pk])).status_code == 200


def test_it_shows_only_my_deployments_on_a_shared_node(client, learner, other_learner):
    cluster = Cluster.default()
    node = node_from(cluster, "nvl4", *WORKED)
    NodeDeployment.objects.create(node=node, owner=other_learner, model="Llama-3.1-70B", tp=4, dtype="bf16")
    client.force_login(learner)
    html = page(client, cluster)
    assert "Llama-3.1-70B · TP=4" not in html and "TP=2 is not needed" not in html


def test_it_says_a_pasted_node_has_no_worker(client, learner):
    cluster = owned_cluster(learner)
    node_from(cluster, "nvl4", *WORKED, online=False)
    client.force_login(learner)
    html = page(client, cluster)
    assert 'class="node-state pasted"' in html and ">pasted (no worker)</span>" in html
    assert 'class="node-state offline"' not in html and "is offline" not in html
    assert "no lab worker runs on this node" in html and "lab.py worker --cluster my-rack --hostname nvl4" in html
    assert '<button class="primary" type="submit" disabled>Measure all pairs</button>' in html


def test_it_names_the_lesson_a_finding_links_to(client, learner):
    from lessons.models import Lesson

    Lesson.objects.create(slug="the-wire", order=3, title="The wire between GPUs", goal="g")
    cluster = owned_cluster(learner)
    node_from(cluster, "nvl4", *WORKED)
    client.force_login(learner)
    html = page(client, cluster)
    assert '<a class="lesson" href="/lessons/the-wire/">Lesson: The wire between GPUs</a>' in html
    assert "Lesson: the-wire" not in html


def test_it_uses_another_learners_pair_run_without_linking_to_it(client, learner, other_learner):
    cluster = Cluster.default()
    node = node_from(cluster, "nvl4", *WORKED)
    run = finished_pair_run(other_learner, node, (2, 3), {64 << 20: 175.0})
    client.force_login(learner)
    html = page(client, cluster)
    assert '<span class="busbw">175</span>' in html and "another learner's" in html
    assert f"/lab/runs/{run.pk}/" not in html


def test_it_shows_the_commands_a_recommendation_names_as_code(client, learner):
    cluster = owned_cluster(learner)
    node_from(cluster, "nvl4", *WORKED)
    client.force_login(learner)
    html = page(client, cluster)
    assert "confirm with <code>nvidia-smi nvlink -s</code>" in html and "`" not in html


def test_it_does_not_offer_a_paste_box_the_shared_cluster_lacks(client, learner, lab_node, instructor):
    """Issue 11: the shared `local` cluster said "paste ... below" with no paste form for a learner."""
    client.force_login(learner)
    html = page(client, lab_node.cluster)
    assert "No topology yet" in html and "topology-paste" not in html
    assert "below" not in html.split("No topology yet")[1].split("</p>")[0]
    assert "add your own cluster on" in html
    client.force_login(instructor)
    html = page(client, lab_node.cluster)
    assert "topology-paste" in html and "paste <code>nvidia-smi topo -m</code> below" in html
