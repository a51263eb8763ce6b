"""Adding a deployment through the small form."""
import pytest
from django.urls import reverse

from tpworkers.models import NodeDeployment

from tests.test_cluster_support import WORKED, node_from, owned_cluster
from tests.test_cluster_support import fast_password_hashing  # noqa: F401 (autouse)

pytestmark = pytest.mark.django_db


def add(client, node, **fields):
    data = {"model": "Gemma-2-27B", "gpus": "0,1", "tp": 2, "dtype": "fp8", **fields}
    return client.post(reverse("cluster_deployment_add", args=[node.pk]), data)


def test_it_saves_a_deployment_and_the_findings_check_it(client, learner):
    node = node_from(owned_cluster(learner), "nvl4", *WORKED)
    client.force_login(learner)
    assert add(client, node).status_code == 302
    [saved] = NodeDeployment.objects.all()
    assert (saved.owner, saved.model, saved.gpus, saved.tp, saved.dtype) == (learner, "Gemma-2-27B", "0,1", 2, "fp8")
    assert saved.to_deployment().gpu_indices == (0, 1)
    html = client.get(reverse("cluster_detail", args=[node.cluster_id])).content.decode()
    assert "cross PCIe" in html and "TP=2 is not needed" in html


@pytest.mark.parametrize("fields, error", [
    ({"gpus": "0,1,2"}, "TP=2 needs 2 GPUs; 3 named"),
    ({"gpus": "0,9"}, "this node has GPUs 0, 1, 2, 3"),
    ({"gpus": "zero"}, "GPU indices separated by commas"),
    ({"model": "GPT-5"}, "Select a valid choice"),
])
def test_it_rejects_a_deployment_that_does_not_fit_the_node(client, learner, fields, error):
    node = node_from(owned_cluster(learner), "nvl4", *WORKED)
    client.force_login(learner)
    response = add(client, node, **fields)
    assert response.status_code == 400 and error in response.content.decode()
    assert not NodeDeployment.objects.exists()


def test_it_refuses_a_node_of_someone_elses_cluster(client, learner, other_learner):
    node = node_from(owned_cluster(other_learner), "nvl4", *WORKED)
    client.force_login(learner)
    assert add(client, node).status_code == 404
