"""Hostile pastes on the cluster page (issue 13): refused with a 400 naming the limit, nothing saved,
and the limits stated on the forms."""
import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from tpworkers.diagnose import limits
from tpworkers.models import Cluster, NodeDeployment

from tests.test_cluster_support import WORKED, node_from, owned_cluster
from tests.test_cluster_support import fast_password_hashing  # noqa: F401 (autouse)
from tests.test_parser_bounds import ALIAS_BOMB, nvlink_s

pytestmark = pytest.mark.django_db


def paste_topology(client, cluster, text, hostname="n1"):
    return client.post(reverse("cluster_topology_paste", args=[cluster.pk]), {"hostname": hostname, "text": text})


def paste_deployments(client, node, text):
    return client.post(reverse("cluster_deployments_paste", args=[node.pk]), {"text": text})


def test_it_states_the_paste_limits_on_the_forms(client, learner):
    node = node_from(owned_cluster(learner), "nvl4", *WORKED)
    client.force_login(learner)
    html = client.get(reverse("cluster_detail", args=[node.cluster_id])).content.decode()
    assert html.count("at most 64 KiB") == 2 and "16 GPUs" in html
    assert f'maxlength="{limits.MAX_PASTE_CHARS}"' in html


def test_it_refuses_a_topology_paste_over_64_kib(client, learner):
    cluster = owned_cluster(learner)
    client.force_login(learner)
    response = paste_topology(client, cluster, nvlink_s(16, links=18) + "\n" + " " * limits.MAX_PASTE_CHARS)
    assert response.status_code == 400 and "at most 64 KiB" in response.content.decode()
    assert not cluster.nodes.exists()


def test_it_refuses_a_400_gpu_nvlink_paste(client, learner):
    cluster = owned_cluster(learner)
    client.force_login(learner)
    response = paste_topology(client, cluster, nvlink_s(400, links=0))
    assert response.status_code == 400 and "at most 16 GPUs" in response.content.decode()
    assert not cluster.nodes.exists()


def test_it_keeps_pasted_node_queues_apart_across_clusters(client, learner):
    """Cluster "a.b" host "c" and cluster "a" host "b.c" once made the same queue name: a 500."""
    client.force_login(learner)
    text = nvlink_s(2)
    assert paste_topology(client, owned_cluster(learner, "a.b"), text, hostname="c").status_code == 302
    assert paste_topology(client, owned_cluster(learner, "a"), text, hostname="b.c").status_code == 302
    assert Cluster.objects.get(name="a").nodes.get().hostname == "b.c"


def test_it_names_the_config_json_limit_in_force(monkeypatch):
    from tpworkers.cluster_forms import ConfigJsonField
    from tpworkers.diagnose import limits

    monkeypatch.setattr(limits, "MAX_CONFIG_CHARS", 1000)
    with pytest.raises(ValidationError, match="a config.json here is at most 1,000 characters; this one is 1,024"):
        ConfigJsonField().clean("{" + " " * 1022 + "}")


def test_it_refuses_a_yaml_alias_bomb_and_saves_nothing(client, learner):
    node = node_from(owned_cluster(learner), "nvl4", *WORKED)
    client.force_login(learner)
    response = paste_deployments(client, node, ALIAS_BOMB)
    assert response.status_code == 400 and "aliases" in response.content.decode()
    assert not NodeDeployment.objects.exists()


def test_it_validates_pasted_deployments_as_the_form_does(client, learner):
    """bulk_create skipped the model field's 200-character limit (SQLite does not check it)."""
    node = node_from(owned_cluster(learner), "nvl4", *WORKED)
    client.force_login(learner)
    response = paste_deployments(client, node, "vllm serve " + "m" * 300 + " -tp 2")
    assert response.status_code == 400 and "at most 200 characters" in response.content.decode()
    assert not NodeDeployment.objects.exists()


def test_it_refuses_a_pasted_pipeline_of_ten_million(client, learner):
    node = node_from(owned_cluster(learner), "nvl4", *WORKED)
    client.force_login(learner)
    line = "vllm serve meta-llama/Llama-3.1-8B --tensor-parallel-size 2 --pipeline-parallel-size 10000000"
    response = paste_deployments(client, node, line)
    assert response.status_code == 400 and "at most 1024" in response.content.decode()


def test_it_caps_deployments_per_learner_and_node(client, learner):
    node = node_from(owned_cluster(learner), "nvl4", *WORKED)
    client.force_login(learner)
    lines = "\n".join(["vllm serve meta-llama/Llama-3.1-8B -tp 2"] * 20)
    assert paste_deployments(client, node, lines).status_code == 302
    response = paste_deployments(client, node, lines)
    assert response.status_code == 400 and "at most 32 deployments" in response.content.decode()
    assert NodeDeployment.objects.count() == 20


def test_it_caps_the_nodes_a_paste_adds_to_a_cluster(client, learner, settings, monkeypatch):
    monkeypatch.setattr("tpworkers.views.clusters.MAX_NODES_PER_CLUSTER", 2)
    cluster = owned_cluster(learner)
    client.force_login(learner)
    for host in ("n1", "n2"):
        assert paste_topology(client, cluster, nvlink_s(2), hostname=host).status_code == 302
    response = paste_topology(client, cluster, nvlink_s(2), hostname="n3")
    assert response.status_code == 400 and "this cluster has 2 nodes" in response.content.decode()
    assert paste_topology(client, cluster, nvlink_s(2), hostname="n2").status_code == 302  # an existing one


def test_it_caps_the_clusters_a_learner_adds(client, learner):
    client.force_login(learner)
    for i in range(10):
        assert client.post(reverse("cluster_list"), {"name": f"rack-{i}"}).status_code == 302
    response = client.post(reverse("cluster_list"), {"name": "rack-10"})
    assert response.status_code == 400 and "You have 10 clusters" in response.content.decode()


def test_it_shows_a_node_stored_before_the_limits_cut_to_them(client, learner):
    """A 400-GPU nvlink -s pasted before this fix made every view take 11.8 s and 92.5 MB."""
    from tpworkers.diagnose import clusterview
    from tpworkers.diagnose.topology import Node as TopologyNode

    cluster = owned_cluster(learner)
    big = TopologyNode("old", gpus=[], pairs=[])
    for g in range(100):
        big.add_gpu(g)
    big.pairs = [clusterview.Topology().node("x").add_pair(a, a + 1) for a in range(99)]
    cluster.nodes.create(hostname="old", queue="pasted.old", topology=clusterview.node_dict(big))
    client.force_login(learner)
    response = client.get(reverse("cluster_detail", args=[cluster.pk]))
    html = response.content.decode()
    assert response.status_code == 200 and "GPU15" in html and "GPU16" not in html
    assert "The stored topology lists 100 GPUs and is shown cut to" in html and len(html) < 300_000


def test_it_refuses_a_request_body_over_a_mebibyte_before_reading_it(client, learner):
    """A 2.4 MB launch line took 91.6 s and came back whole in the answer."""
    node = node_from(owned_cluster(learner), "nvl4", *WORKED)
    client.force_login(learner)
    response = paste_deployments(client, node, "vllm serve m --x " + "a" * 1_200_000)
    assert response.status_code == 400 and len(response.content) < 100_000
    assert not NodeDeployment.objects.exists()
