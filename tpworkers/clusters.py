"""The cluster page's queries: pasted topology merged into a node, latest measured pair bandwidths, a node's
findings (the cluster page and the lessons' "On your cluster" step share them), and one
all-reduce run per GPU pair."""

from dataclasses import dataclass

from django.db.models import Q
from django.utils import timezone

from labapp.roles import can_see_owned, is_instructor
from tpworkers.diagnose import clusterview
from tpworkers.diagnose.findings import Finding, Inputs, diagnose
from tpworkers.diagnose.limits import MAX_NICS_PER_NODE
from tpworkers.diagnose.nvsmi_parse import ParseError, parse
from tpworkers.diagnose.topology import PairMeasurement, resolve_remote_gpus
from tpworkers.diagnose.topology_merge import merge
from tpworkers.measure.configs import SweepConfig
from tpworkers.models import Cluster, ExperimentRun, Node, NodeDeployment


def visible_clusters(user):
    clusters = Cluster.objects.order_by("name")
    if is_instructor(user):
        return clusters
    return clusters.filter(Q(ownership__isnull=True) | Q(ownership__owner=user))


def can_edit_cluster(user, cluster: Cluster) -> bool:
    """Pasting topology changes what everyone sees: owners (or instructors) only."""
    owner_id = getattr(getattr(cluster, "ownership", None), "owner_id", None)
    return is_instructor(user) or (owner_id is not None and owner_id == user.id)


MAX_REASONS = 64  # NVML notes kept per node, newest last


def paste_topology(cluster: Cluster, hostname: str, text: str) -> tuple[str, Node]:
    """Parse pasted nvidia-smi output (ParseError names the line) and merge it into the node of
    that hostname, creating the node when the cluster has none such: returns (kind, node)."""
    kind, pasted = parse(text, hostname=hostname)
    node = cluster.nodes.filter(hostname=hostname).first()
    if node is None:
        # By the cluster's id: names may hold dots, so "a.b" + "c" and "a" + "b.c" would collide.
        node = Node(cluster=cluster, hostname=hostname, queue=f"pasted.{cluster.pk}.{hostname}", cpu_ranks=0)
    # The paste goes first: on a tie between two pastes the newer one wins (a repaired link
    # shows up), while NVML still outranks nvidia-smi text field by field.
    merged = merge(pasted, clusterview.topology_node(node.topology, hostname))
    # GPU and link indices are bounded by the parser; NIC names and notes could pile up paste by paste.
    if len(merged.nics) > MAX_NICS_PER_NODE:
        raise ParseError(1, text.split("\n", 1)[0], f"with this paste {hostname} would have {len(merged.nics)} "
                                                    f"NICs; at most {MAX_NICS_PER_NODE} are kept")
    merged.reasons = merged.reasons[-MAX_REASONS:]
    resolve_remote_gpus(merged)
    node.topology = clusterview.node_dict(merged)
    node.topology_at = timezone.now()
    node.gpu_count = node.gpu_count or len(merged.gpus)
    node.save()
    return kind, node


# A pair's link speed needs messages large enough for the bus bandwidth to level off: the
# "Measure all pairs" runs reach this size (pair_sweep_params), and a smaller run is not read.
PAIR_MIN_BYTES = 64 << 20


def pair_measurements(node: Node, viewer) -> dict[tuple[int, int], tuple[float, int | None]]:
    """(a, b) -> (best busbw at the largest size, run id) of the latest finished all-reduce on
    each GPU pair of this node, whoever ran it (the hardware is shared); the run id only when
    the viewer may open that run. Only runs that say what the link can do count: NCCL allowed
    to use P2P/NVLink, and a largest measured size of at least PAIR_MIN_BYTES (a P2P-off or a
    small lab sweep would otherwise pass for a slow link)."""
    runs = (ExperimentRun.objects.filter(node=node, experiment=ExperimentRun.Experiment.COLLECTIVE_SWEEP,
                                         status=ExperimentRun.Status.DONE, params__op="all_reduce")
            .order_by("-finished_at").prefetch_related("measurements")[:200])
    found = {}
    for run in runs:
        gpus = tuple(sorted(int(g) for g in run.params.get("gpus") or ()))
        if len(gpus) != 2 or gpus in found or run.params.get("p2p") is False:
            continue
        rows = [m.data for m in run.measurements.all()]
        if not rows or max(row["size_bytes"] for row in rows) < PAIR_MIN_BYTES:
            continue
        visible_id = run.pk if can_see_owned(viewer, run.owner_id) else None
        found[gpus] = (clusterview.best_busbw_at_largest_size(rows), visible_id)
    return found


def findings_inputs(node: Node, viewer) -> tuple[Inputs, list[tuple[NodeDeployment, str]]]:
    """Topology, measured pairs and the viewer's deployments of a node; deployments that no
    longer parse come back with the reason, so the page can say why they were left out."""
    topology = clusterview.topology_node(node.topology, node.hostname)
    measured = [PairMeasurement(gpus=gpus, busbw_Bps=busbw * 1e9)
                for gpus, (busbw, _) in pair_measurements(node, viewer).items()]
    deployments, broken = [], []
    for record in node.deployments.filter(owner=viewer):
        try:
            deployments.append(record.to_deployment())
        except ValueError as exc:  # DeploymentError, or a model the catalog dropped
            broken.append((record, str(exc)))
    return Inputs(topology, deployments, measured), broken


@dataclass
class NodeFindings:
    inputs: Inputs  # what the rules read: topology, measured pairs, the viewer's deployments
    findings: list[Finding]
    broken: list[tuple[NodeDeployment, str]]  # the viewer's deployments left out, with why


def node_findings(node: Node, viewer) -> NodeFindings:
    """A node's findings for this viewer, as the cluster page and the lessons show them."""
    inputs, broken = findings_inputs(node, viewer)
    return NodeFindings(inputs, diagnose(inputs), broken)


def learner_node(learner) -> Node | None:
    """The node whose findings a learner's lesson shows: the freshest described node they may
    see, one they deployed on first; None while no node they may see has a topology."""
    described = Node.objects.filter(cluster__in=visible_clusters(learner)).exclude(topology={})
    return (described.filter(deployments__owner=learner).order_by("-topology_at").first()
            or described.order_by("-topology_at").first())


def queue_pair_runs(owner, node: Node) -> tuple[list[ExperimentRun], str]:
    """One all-reduce run per GPU pair of the node that this learner is not already measuring
    (one CPU run on a node without GPUs), queued as one batch: returns (runs, why none were)."""
    from tpworkers.runs import RunRefused, create_runs

    topology = clusterview.topology_node(node.topology, node.hostname)
    measuring = {tuple(sorted(run.params.get("gpus") or ()))
                 for run in owner.runs.filter(node=node, experiment=ExperimentRun.Experiment.COLLECTIVE_SWEEP,
                                              status__in=ExperimentRun.ACTIVE)}
    groups = [gpus for gpus in clusterview.gpu_pairs(topology, node.gpu_count) or [()] if gpus not in measuring]
    if not groups:
        return [], "Every pair of this node is already queued or being measured for you."
    try:
        return create_runs(owner, ExperimentRun.Experiment.COLLECTIVE_SWEEP,
                           [pair_sweep_params(gpus) for gpus in groups], node), ""
    except RunRefused as refused:
        return [], str(refused)


def pair_runs(owner, node: Node) -> list[ExperimentRun]:
    """This learner's pair runs on a node (and the two-rank CPU run of a GPU-less node), newest
    first: two-rank all-reduce sweeps, not the ones a lesson step asked for."""
    runs = owner.runs.filter(node=node, experiment=ExperimentRun.Experiment.COLLECTIVE_SWEEP,
                             params__op="all_reduce", return_to="").prefetch_related("measurements")
    return [r for r in runs[:100] if r.params.get("nproc", 2) == 2
            and (len(r.params.get("gpus") or ()) == 2 or not node.gpu_count)]

def pair_sweep_params(gpus: tuple[int, ...]) -> dict:
    """An all-reduce sweep up to PAIR_MIN_BYTES on a GPU pair: large enough for the bus bandwidth
    to level off. Without GPUs (gloo on two CPU ranks) it stops at 4 MiB to stay short."""
    sweep = SweepConfig(op="all_reduce", nproc=2, min_bytes=1 << 10, max_bytes=PAIR_MIN_BYTES if gpus else (4 << 20),
                        factor=4, dtype="float32", warmup=2, iters=10)
    return {**sweep.to_params(), **({"gpus": list(gpus), "p2p": True} if gpus else {})}
