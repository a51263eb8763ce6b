"""The "On your cluster" step: the learner's node as the cluster page diagnoses it, or the
labelled example while they have none."""
import html

from tpworkers.clusters import node_findings
from tpworkers.models import NodeDeployment
from tpworkers.diagnose.deployments import parse_launch_line

from tests.test_cluster_support import WORKED, WORKED_LINE, finished_pair_run, node_from, owned_cluster
from tests.test_cluster_support import fast_password_hashing  # noqa: F401 (autouse)

YOURS = "/lessons/cluster-findings/yours/"


def worked_node(owner):
    node = node_from(owned_cluster(owner), "nvl4", *WORKED)
    NodeDeployment.from_deployment(node, owner, parse_launch_line(WORKED_LINE)).save()
    finished_pair_run(owner, node, (0, 1), {64 << 20: 9.5})
    finished_pair_run(owner, node, (2, 3), {64 << 20: 180.0})
    return node


def test_it_labels_the_example_cluster_as_an_example(logged_in):
    page = logged_in.get(YOURS).content.decode()
    assert "Example cluster — not yours" in page
    assert "The NVLink between GPU0 and GPU1 is down" in page
    assert 'href="/clusters/"' in page
    assert 'href="/lessons/the-wire/">The wire</a>' in page  # the lesson by its title
    assert "<code>nvidia-smi nvlink -s</code>" in page  # commands in recommendations read as code


def test_it_shows_the_learners_node_as_the_cluster_page_diagnoses_it(logged_in, learner):
    node = worked_node(learner)
    page = html.unescape(logged_in.get(YOURS).content.decode())
    assert "Example cluster" not in page
    assert "Your cluster my-rack: nvl4, 4 GPUs" in page and "1 of your deployments; 2 GPU pairs measured" in page
    assert f'href="/clusters/{node.cluster_id}/#node-{node.pk}"' in page
    findings = node_findings(node, learner).findings
    assert findings and all(finding.title in page for finding in findings)
    assert "TP=2 is not needed" in page  # from the learner's deployment
    assert "GPU0-GPU1 all-reduce bandwidth is" in page and "9.5" in page  # from the measured pair run
    cluster_page = html.unescape(logged_in.get(f"/clusters/{node.cluster_id}/").content.decode())
    assert all(finding.title in cluster_page for finding in findings)


def test_it_never_shows_another_learners_private_cluster(logged_in, other_learner):
    worked_node(other_learner)
    assert "Example cluster — not yours" in logged_in.get(YOURS).content.decode()


def test_it_leaves_out_other_learners_deployments_on_a_shared_node(logged_in, learner, other_learner):
    node = worked_node(other_learner)
    node.cluster.ownership.delete()  # now a shared cluster, as the default one is
    page = html.unescape(logged_in.get(YOURS).content.decode())
    assert "Your cluster my-rack: nvl4" in page and "0 of your deployments" in page
    assert "TP=2 is not needed" not in page


def test_it_keeps_the_worked_example_step_an_example(logged_in, learner):
    worked_node(learner)
    page = logged_in.get("/lessons/cluster-findings/example/").content.decode()
    assert "Example cluster — not yours" in page
