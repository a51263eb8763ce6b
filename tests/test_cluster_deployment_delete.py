"""Deleting a deployment: the owner's own, by POST."""
import pytest
from django.urls import reverse

from tpworkers.models import NodeDeployment

from tests.test_cluster_support import WORKED, node_from, owned_cluster
from tests.test_cluster_support import fast_password_hashing  # noqa: F401 (autouse)

pytestmark = pytest.mark.django_db


@pytest.fixture
def deployment(learner):
    node = node_from(owned_cluster(learner), "nvl4", *WORKED)
    return NodeDeployment.objects.create(node=node, owner=learner, model="Gemma-2-27B", gpus="0,1", tp=2)


def test_it_deletes_my_deployment(client, learner, deployment):
    client.force_login(learner)
    response = client.post(reverse("cluster_deployment_delete", args=[deployment.pk]))
    assert response.status_code == 302 and response["Location"].endswith(f"#node-{deployment.node_id}")
    assert not NodeDeployment.objects.exists()


def test_it_does_not_delete_on_get_or_for_another_learner(client, learner, other_learner, deployment):
    client.force_login(learner)
    assert client.get(reverse("cluster_deployment_delete", args=[deployment.pk])).status_code == 405
    client.force_login(other_learner)
    assert client.post(reverse("cluster_deployment_delete", args=[deployment.pk])).status_code == 404
    assert NodeDeployment.objects.count() == 1
