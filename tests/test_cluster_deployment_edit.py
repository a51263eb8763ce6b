"""Editing a deployment: the form's fields replace the pasted line; only the owner may."""
import pytest
from django.urls import reverse

from tpworkers.models import NodeDeployment
from tpworkers.diagnose.deployments import parse_launch_line

from tests.test_cluster_support import WORKED, WORKED_LINE, node_from, owned_cluster
from tests.test_cluster_support import fast_password_hashing  # noqa: F401 (autouse)

pytestmark = pytest.mark.django_db


@pytest.fixture
def pasted(learner):
    node = node_from(owned_cluster(learner), "nvl4", *WORKED)
    deployment = NodeDeployment.from_deployment(node, learner, parse_launch_line(WORKED_LINE))
    deployment.save()
    return deployment


def test_it_shows_the_form_filled_in(client, learner, pasted):
    client.force_login(learner)
    html = client.get(reverse("cluster_deployment_edit", args=[pasted.pk])).content.decode()
    assert 'value="0,1"' in html and '<option value="fp8" selected>' in html and WORKED_LINE in html


def test_it_moves_the_deployment_to_the_nvlinked_pair(client, learner, pasted):
    client.force_login(learner)
    response = client.post(reverse("cluster_deployment_edit", args=[pasted.pk]),
                           {"model": "Gemma-2-27B", "gpus": "2,3", "tp": 2, "dtype": "fp8"})
    assert response.status_code == 302
    pasted.refresh_from_db()
    assert pasted.gpus == "2,3" and pasted.source == ""
    html = client.get(reverse("cluster_detail", args=[pasted.node.cluster_id])).content.decode()
    assert "cross PCIe" not in html and "The NVLink between GPU0 and GPU1 is down" in html


def test_it_keeps_another_learner_out(client, other_learner, pasted):
    client.force_login(other_learner)
    assert client.get(reverse("cluster_deployment_edit", args=[pasted.pk])).status_code == 404


def test_it_takes_a_config_json_for_a_model_outside_the_catalog(client, learner):
    from tests.test_cluster_deployments_paste import QWEN_CONFIG, QWEN_LINE

    node = node_from(owned_cluster(learner), "nvl4", *WORKED)
    deployment = NodeDeployment.from_deployment(node, learner, parse_launch_line(QWEN_LINE))
    deployment.save()
    client.force_login(learner)
    url = reverse("cluster_deployment_edit", args=[deployment.pk])
    page = client.get(url).content.decode()
    assert 'name="config_json"' in page and "Qwen/Qwen3.5-27B-FP8" in page
    bad = client.post(url, {"model": "Qwen/Qwen3.5-27B-FP8", "gpus": "0,1", "tp": 2, "dtype": "fp8",
                            "config_json": "[1, 2]"})
    assert bad.status_code == 400 and "config must be a JSON object" in bad.content.decode()
    response = client.post(url, {"model": "Qwen/Qwen3.5-27B-FP8", "gpus": "0,1", "tp": 2, "dtype": "fp8",
                                 "config_json": QWEN_CONFIG})
    assert response.status_code == 302
    deployment.refresh_from_db()
    assert deployment.to_deployment().shape.hidden_size == 5120
