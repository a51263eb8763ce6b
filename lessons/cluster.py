"""Findings for the "On your cluster" step: the learner's own node when the lab knows its
topology, otherwise the worked 4-GPU example (lessons/content/examples/), labelled as such."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tpworkers.deployments import parse_deployments
from tpworkers.findings import Finding, Inputs, diagnose
from tpworkers.nvsmi_parse import parse
from tpworkers.topology import Topology, merge, resolve_remote_gpus

EXAMPLES = Path(__file__).parent / "content" / "examples"
EXAMPLE_NAME = "4gpu-nvlink-down"


@dataclass
class ClusterReport:
    is_example: bool
    description: str
    findings: list[Finding]


def example_report() -> ClusterReport:
    texts = [(EXAMPLES / f"{EXAMPLE_NAME}.{kind}.txt").read_text() for kind in ("topo-m", "nvlink-s", "p2p-r")]
    node = merge(*(parse(text, hostname="example-node")[1] for text in texts))
    resolve_remote_gpus(node)
    deployments = parse_deployments((EXAMPLES / f"{EXAMPLE_NAME}.deployment.yaml").read_text(), {})
    description = (f"Example cluster, not yours: one node with {len(node.gpus)} × "
                   f"{node.gpus[0].name or 'GPU'}; GPU0–GPU1 NVLink down; "
                   f"{deployments[0].shape.name} in {deployments[0].weight_dtype} at "
                   f"TP={deployments[0].tp} on GPU0+GPU1.")
    return ClusterReport(True, description, diagnose(Inputs(node, deployments)))


def own_report() -> ClusterReport | None:
    """The freshest registered node whose worker reported a topology (None when there is none)."""
    from tpworkers.models import Node as NodeRecord

    record = NodeRecord.objects.exclude(topology={}).order_by("-topology_at").first()
    if record is None:
        return None
    data = record.topology if "nodes" in record.topology else {"nodes": [record.topology]}
    nodes = Topology.from_dict(data).nodes
    if not nodes or not nodes[0].gpus:
        return None
    return ClusterReport(False, f"Your cluster: {record.hostname}, {len(nodes[0].gpus)} GPUs "
                                f"(topology reported {record.topology_at:%Y-%m-%d %H:%M} UTC).",
                         diagnose(Inputs(nodes[0])))


def cluster_report(example_only: bool = False) -> ClusterReport:
    return example_report() if example_only else (own_report() or example_report())
