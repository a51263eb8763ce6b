"""Which runs count as a GPU pair's measured bandwidth (the heatmap and the findings read it):
only all-reduces that let NCCL use P2P/NVLink and reached a size where bus bandwidth levels off."""
import pytest

from tpworkers.clusters import PAIR_MIN_BYTES, pair_measurements
from tpworkers.models import ExperimentRun

from tests.test_cluster_support import WORKED, finished_pair_run, node_from, owned_cluster
from tests.test_cluster_support import fast_password_hashing  # noqa: F401 (autouse)

pytestmark = pytest.mark.django_db


def test_it_ignores_a_later_run_with_p2p_off(learner):
    node = node_from(owned_cluster(learner), "nvl4", *WORKED)
    nvlink = finished_pair_run(learner, node, (2, 3), {PAIR_MIN_BYTES: 180.0})
    p2p_off = finished_pair_run(learner, node, (2, 3), {PAIR_MIN_BYTES: 20.0})
    ExperimentRun.objects.filter(pk=p2p_off.pk).update(params={**p2p_off.params, "p2p": False})
    assert pair_measurements(node, learner) == {(2, 3): (180.0, nvlink.pk)}


def test_it_ignores_a_later_lab_sweep_that_stopped_at_a_small_size(learner):
    node = node_from(owned_cluster(learner), "nvl4", *WORKED)
    large = finished_pair_run(learner, node, (0, 1), {1 << 20: 30.0, PAIR_MIN_BYTES: 9.5})
    finished_pair_run(learner, node, (0, 1), {1 << 10: 0.1, PAIR_MIN_BYTES // 4: 4.0})
    assert pair_measurements(node, learner) == {(0, 1): (9.5, large.pk)}


def test_it_leaves_a_pair_unmeasured_when_only_small_or_p2p_off_runs_exist(learner):
    node = node_from(owned_cluster(learner), "nvl4", *WORKED)
    finished_pair_run(learner, node, (0, 1), {PAIR_MIN_BYTES // 2: 9.0})
    p2p_off = finished_pair_run(learner, node, (2, 3), {PAIR_MIN_BYTES: 20.0})
    ExperimentRun.objects.filter(pk=p2p_off.pk).update(params={**p2p_off.params, "p2p": False})
    assert pair_measurements(node, learner) == {}
