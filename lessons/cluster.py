"""Findings for the "On your cluster" step: the learner's own node — its topology, measured pair
runs and their deployments, through the same function the cluster page uses — when a node they
may see has a topology; otherwise the worked 4-GPU example (lessons/content/examples/),
labelled as such."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from django.urls import reverse

from tpworkers.clusters import learner_node, node_findings
from tpworkers.diagnose.deployments import parse_deployments
from tpworkers.diagnose.findings import Finding, Inputs, diagnose
from tpworkers.diagnose.nvsmi_parse import parse
from tpworkers.diagnose.topology import resolve_remote_gpus
from tpworkers.diagnose.topology_merge import merge

EXAMPLES = Path(__file__).parent / "content" / "examples"
EXAMPLE_NAME = "4gpu-nvlink-down"


@dataclass
class ClusterReport:
    is_example: bool
    description: str
    findings: list[Finding]
    url: str  # the cluster page of this node, or the list of clusters for the example
    left_out: list[str] = field(default_factory=list)  # the learner's deployments that did not parse, why


def example_report() -> ClusterReport:
    texts = [(EXAMPLES / f"{EXAMPLE_NAME}.{kind}.txt").read_text() for kind in ("topo-m", "nvlink-s", "p2p-r")]
    node = merge(*(parse(text, hostname="example-node")[1] for text in texts))
    resolve_remote_gpus(node)
    deployments = parse_deployments((EXAMPLES / f"{EXAMPLE_NAME}.deployment.yaml").read_text(), {})
    description = (f"Example cluster, not yours: one node with {len(node.gpus)} × "
                   f"{node.gpus[0].name or 'GPU'}; GPU0–GPU1 NVLink down; "
                   f"{deployments[0].shape.name} in {deployments[0].weight_dtype} at "
                   f"TP={deployments[0].tp} on GPU0+GPU1.")
    return ClusterReport(True, description, diagnose(Inputs(node, deployments)), reverse("cluster_list"))


def own_report(learner) -> ClusterReport | None:
    """The learner's node, as the cluster page diagnoses it (None while they have none)."""
    node = learner_node(learner)
    if node is None:
        return None
    report = node_findings(node, learner)
    inputs = report.inputs
    if not inputs.node.gpus:
        return None
    description = (f"Your cluster {node.cluster.name}: {node.hostname}, {len(inputs.node.gpus)} GPUs (topology "
                   f"reported {node.topology_at:%Y-%m-%d %H:%M} UTC); {len(inputs.deployments)} of your "
                   f"deployments; {len(inputs.measurements)} GPU pairs measured.")
    return ClusterReport(False, description, report.findings,
                         reverse("cluster_detail", args=[node.cluster_id]) + f"#node-{node.pk}",
                         [f"{record}: {why}" for record, why in report.broken])


def cluster_report(learner, example_only: bool = False) -> ClusterReport:
    return example_report() if example_only else (own_report(learner) or example_report())
