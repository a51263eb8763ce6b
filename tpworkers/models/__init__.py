"""The lab's models: clusters and nodes (clusters.py), runs and their rows (runs.py)."""

from tpworkers.models.clusters import Cluster, ClusterOwnership, Node, NodeDeployment
from tpworkers.models.runs import ExperimentRun, Measurement

__all__ = ["Cluster", "ClusterOwnership", "Node", "NodeDeployment", "ExperimentRun", "Measurement"]
