"""Instructors manage clusters in the admin (issue 13, item 12): list, see owners, and remove a
squatted name; a worker never joins a learner's namespaced cluster."""
import pytest
from django.core.management.base import CommandError

from tpworkers.management.commands import labworker
from tpworkers.models import Cluster

from tests.test_cluster_support import owned_cluster
from tests.test_cluster_support import fast_password_hashing  # noqa: F401 (autouse)

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_user(django_user_model):
    return django_user_model.objects.create_superuser("teacher", password="an-admin-password-1")


def test_it_lists_clusters_with_their_owners(client, admin_user, learner):
    Cluster.default()
    owned_cluster(learner, "ada/h100-box")
    client.force_login(admin_user)
    page = client.get("/admin/tpworkers/cluster/").content.decode()
    assert "ada/h100-box" in page and "local" in page and "shared" in page


def test_it_lets_an_instructor_remove_a_cluster(client, admin_user, learner):
    cluster = owned_cluster(learner, "ada/squat")
    client.force_login(admin_user)
    response = client.post(f"/admin/tpworkers/cluster/{cluster.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302 and not Cluster.objects.filter(pk=cluster.pk).exists()


def test_it_keeps_workers_out_of_learners_namespaces():
    with pytest.raises(CommandError, match="a name with a slash is a learner's private cluster"):
        labworker.register_node("ada/h100-box", "somehost")
    assert not Cluster.objects.exists()
