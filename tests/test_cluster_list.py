"""Cluster list: shared clusters for everyone logged in, own clusters for their owner."""
import pytest
from django.urls import reverse

from tpworkers.models import Cluster

from tests.test_cluster_support import owned_cluster
from tests.test_cluster_support import fast_password_hashing  # noqa: F401 (autouse)

pytestmark = pytest.mark.django_db


def test_it_asks_for_a_login(client):
    response = client.get(reverse("cluster_list"))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_it_lists_the_shared_cluster_and_mine_but_not_another_learners(client, learner, other_learner):
    Cluster.default()
    owned_cluster(learner, "ada-rack")
    owned_cluster(other_learner, "grace-rack")
    client.force_login(learner)
    page = client.get(reverse("cluster_list")).content.decode()
    assert "local" in page and "ada-rack" in page and "grace-rack" not in page


def test_it_lets_an_instructor_see_every_cluster(client, learner, instructor):
    owned_cluster(learner, "ada-rack")
    client.force_login(instructor)
    assert "ada-rack" in client.get(reverse("cluster_list")).content.decode()


def test_it_creates_a_cluster_owned_by_the_learner(client, learner):
    client.force_login(learner)
    response = client.post(reverse("cluster_list"), {"name": "h100-box"})
    cluster = Cluster.objects.get(name="ada/h100-box")  # under the learner's username
    assert response.status_code == 302 and response["Location"] == reverse("cluster_detail", args=[cluster.pk])
    assert cluster.ownership.owner == learner


def test_it_refuses_a_name_the_learner_already_has(client, learner):
    owned_cluster(learner, "ada/h100-box")
    client.force_login(learner)
    response = client.post(reverse("cluster_list"), {"name": "h100-box"})
    assert response.status_code == 400 and "You already have a cluster named h100-box" in response.content.decode()


def test_it_does_not_tell_whether_another_learners_cluster_exists(client, learner, other_learner):
    """A plain unique name answered "already exists" for a private cluster the learner cannot see."""
    owned_cluster(other_learner, f"{other_learner.username}/secret-rack")
    client.force_login(learner)
    assert client.post(reverse("cluster_list"), {"name": "secret-rack"}).status_code == 302
    assert Cluster.objects.filter(name__endswith="/secret-rack").count() == 2


def test_it_leaves_the_names_shared_clusters_need_to_their_workers(client, learner):
    """A learner's "rack-a" once blocked a worker from registering the shared cluster rack-a."""
    client.force_login(learner)
    client.post(reverse("cluster_list"), {"name": "rack-a"})
    client.post(reverse("cluster_list"), {"name": "local"})
    assert not Cluster.objects.filter(name__in=["rack-a", "local"]).exists()
    assert client.post(reverse("cluster_list"), {"name": "a/b"}).status_code == 400


def test_it_shows_each_nodes_state_and_whose_cluster_it_is(client, learner, instructor):
    from datetime import timedelta

    from django.utils import timezone

    from tpworkers.models import Node

    cluster = owned_cluster(learner, "ada-rack")
    Node.objects.create(cluster=cluster, hostname="pasted-box", queue="pasted.ada-rack.pasted-box")
    Node.objects.create(cluster=cluster, hostname="gone", queue="q.gone",
                        last_heartbeat_at=timezone.now() - timedelta(hours=1))
    Node.objects.create(cluster=cluster, hostname="here", queue="q.here", last_heartbeat_at=timezone.now())
    client.force_login(learner)
    page = client.get(reverse("cluster_list")).content.decode()
    assert 'pasted-box <span class="node-state pasted"' in page and ">pasted (no worker)</span>" in page
    assert 'gone <span class="node-state offline">offline</span>' in page
    assert 'here <span class="node-state online">online</span>' in page
    assert "<td>yours</td>" in page
    client.force_login(instructor)
    assert "<td>ada's</td>" in client.get(reverse("cluster_list")).content.decode()
