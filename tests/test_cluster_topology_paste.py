"""Pasting nvidia-smi output: a node is created or merged; a parse error names the line."""
import pytest
from django.urls import reverse

from tpworkers.diagnose import clusterview
from tpworkers.models import Cluster

from tests.test_cluster_support import NVSMI, node_from, owned_cluster
from tests.test_cluster_support import fast_password_hashing  # noqa: F401 (autouse)

pytestmark = pytest.mark.django_db


def paste(client, cluster, text, hostname="nvl4", **headers):
    return client.post(reverse("cluster_topology_paste", args=[cluster.pk]),
                       {"hostname": hostname, "text": text}, **headers)


def test_it_creates_a_node_from_pasted_topo_m(client, learner):
    cluster = owned_cluster(learner)
    client.force_login(learner)
    response = paste(client, cluster, (NVSMI / "h100-sxm-8gpu.topo-m.txt").read_text(), hostname="dgx1")
    node = cluster.nodes.get(hostname="dgx1")
    assert response.status_code == 302 and response["Location"].endswith(f"#node-{node.pk}")
    topology = clusterview.topology_node(node.topology, node.hostname)
    assert len(topology.gpus) == 8 and topology.find_pair(0, 7).nvlink_count == 18
    assert topology.find_pair(0, 7).sources["nvlink_count"] == "reported-nvidia-smi"
    assert node.gpu_count == 8 and not node.is_online()


def test_it_merges_a_second_paste_into_the_same_node(client, learner):
    cluster = owned_cluster(learner)
    node_from(cluster, "nvl4", "h100-nvl-4gpu-link-down.topo-m.txt")
    client.force_login(learner)
    paste(client, cluster, (NVSMI / "h100-nvl-4gpu-link-down.nvlink-s.txt").read_text())
    [node] = cluster.nodes.all()
    topology = clusterview.topology_node(node.topology, node.hostname)
    assert topology.find_pair(0, 1).path == "NODE"  # from topo -m, kept
    assert [len(g.nvlinks) for g in topology.gpus] == [12, 12, 12, 12]  # from nvlink -s, added


def test_it_names_the_line_it_could_not_read_and_keeps_the_text(client, learner):
    cluster = owned_cluster(learner)
    client.force_login(learner)
    lines = (NVSMI / "h100-nvl-4gpu-link-down.topo-m.txt").read_text().split("\n")
    lines[3] = lines[3].replace("SYS", "QPI", 1)  # line 4: GPU2's row
    text = "\n".join(lines)
    response = paste(client, cluster, text)
    html = response.content.decode()
    assert response.status_code == 400 and not cluster.nodes.exists()
    assert "Line 4: unknown cell value &#x27;QPI&#x27;" in html
    assert '<code class="bad-line">GPU2\tQPI' in html
    assert "GPU3\tSYS\tSYS\tNV12" in html  # the pasted text is still in the box


def test_it_answers_htmx_with_the_paste_box_alone(client, learner):
    cluster = owned_cluster(learner)
    client.force_login(learner)
    response = paste(client, cluster, "hello\nworld", HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200 and html.lstrip().startswith("<form")
    assert "Line 1: not a recognised nvidia-smi output" in html and "<h1>" not in html
    ok = paste(client, cluster, (NVSMI / "pcie-8gpu.topo-m.txt").read_text(), HTTP_HX_REQUEST="true")
    assert ok.status_code == 200 and ok["HX-Refresh"] == "true" and cluster.nodes.count() == 1


def test_it_lets_only_the_owner_or_an_instructor_change_a_clusters_topology(client, learner, other_learner):
    shared = Cluster.default()
    client.force_login(learner)
    text = (NVSMI / "pcie-8gpu.topo-m.txt").read_text()
    assert paste(client, shared, text).status_code == 404
    assert paste(client, owned_cluster(other_learner), text).status_code == 404
    assert not shared.nodes.exists()
