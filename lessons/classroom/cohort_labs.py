"""Labs and clusters for a cohort: which learners measured what (the runs that fit each lab
step), each learner's lab prediction against their measurement, and the findings on the nodes
the cohort owns, deployed on or ran on — in a fixed number of queries per class, plus two per
node for its measured pairs.

A lab step's result is the lesson engine's own (lessons.labs: Lab.result_in), given only the
newest fitting run of each lab step per learner, whose measurements are fetched in one query.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

from django.db.models import Prefetch, Q, prefetch_related_objects

from lessons import predictions
from lessons.classroom.cohort_data import CohortRecords
from lessons.labs import LABS, Lab, LabResult, lab_for
from lessons.models import Step
from tpworkers.clusters import pair_measurements
from tpworkers.diagnose import clusterview
from tpworkers.diagnose.evidence import SEVERITY_ORDER
from tpworkers.diagnose.findings import Finding, Inputs, diagnose
from tpworkers.diagnose.topology import PairMeasurement
from tpworkers.models import ExperimentRun, Measurement, Node, NodeDeployment


@dataclass
class LabCell:
    guess: float | None  # the learner's lab prediction, kept for good
    result: LabResult | None
    runs: int  # the learner's runs that fit this step

    @property
    def ratio(self) -> float | None:
        """Measured ÷ predicted, as the lab step shows it."""
        if self.guess and self.result and self.result.value is not None:
            return self.result.value / self.guess
        return None


@dataclass
class LabStep:
    step: Step
    unit: str
    runs: int = 0  # fitting runs, all learners
    learners: int = 0  # learners with at least one


def _lab(step: Step, by_key: dict) -> Lab:
    """The step's lab, with the lab step it is compared with (``versus``) as its baseline."""
    other = by_key.get((step.lesson_id, step.config.get("versus")))
    return lab_for(step.config, other.config if other else None)


def lab_matrix(records: CohortRecords) -> tuple[list[LabStep], list[tuple[object, list[LabCell]]]]:
    """(lab steps, (learner, a cell per lab step) per learner)."""
    steps = records.of_kind(Step.Kind.LAB)
    by_key = {(step.lesson_id, step.key): step for step in steps}
    labs = {step.id: _lab(step, by_key) for step in steps}
    runs = defaultdict(list)  # learner id -> runs, newest first
    for run in (ExperimentRun.objects.filter(owner__in=[l.id for l in records.learners], experiment__in=LABS)
                .order_by("-created_at", "-id")):
        runs[run.owner_id].append(run)
    fitting = Counter()
    newest = defaultdict(dict)  # learner id -> step id -> the newest fitting run
    for learner_id, own in runs.items():
        for step in steps:
            lab = labs[step.id]
            found = [run for run in own if run.experiment == lab.experiment and lab.matches(run.params)]
            fitting[learner_id, step.id] = len(found)
            if found:
                newest[learner_id][step.id] = found[0]
    # The measurements of just those runs, in one query for the class.
    chosen = list({run.id: run for by_step in newest.values() for run in by_step.values()}.values())
    prefetch_related_objects(chosen, Prefetch("measurements", Measurement.objects.only("run", "seq", "data")))
    lab_steps = [LabStep(step, predictions.unit_label(step)) for step in steps]
    matrix = []
    for learner in records.learners:
        candidates = sorted({run.id: run for run in newest[learner.id].values()}.values(),
                            key=lambda run: (run.created_at, run.id), reverse=True)
        cells = []
        for lab_step in lab_steps:
            step = lab_step.step
            first = records.first.get((learner.id, step.id))
            count = fitting[learner.id, step.id]
            lab_step.runs += count
            lab_step.learners += bool(count)
            cells.append(LabCell(first.answer if first else None,
                                 labs[step.id].result_in(candidates) if count else None, count))
        matrix.append((learner, cells))
    return lab_steps, matrix


SEVERITIES = sorted(SEVERITY_ORDER, key=SEVERITY_ORDER.get)


@dataclass
class NodeReport:
    node: Node
    learners: list[str]
    findings: list[Finding] = field(default_factory=list)

    def count(self, severity: str) -> int:
        return sum(1 for finding in self.findings if finding.severity == severity)

    @property
    def counts(self) -> list[tuple[str, int]]:
        """(severity, findings) for each severity, most severe first."""
        return [(severity, self.count(severity)) for severity in SEVERITIES]


def severity_totals(reports: list[NodeReport]) -> list[tuple[str, int]]:
    """(severity, findings across every node) for each severity, most severe first."""
    return [(severity, sum(report.count(severity) for report in reports)) for severity in SEVERITIES]


def cluster_findings(learners: list, viewer) -> list[NodeReport]:
    """Per node a cohort learner owns, deployed on or ran on (and that has a topology): the
    findings over its topology, its measured pairs and every cohort learner's deployments on it."""
    ids = [learner.id for learner in learners]
    names = {learner.id: learner.username for learner in learners}
    nodes = list(Node.objects.filter(Q(cluster__ownership__owner__in=ids) | Q(deployments__owner__in=ids)
                                     | Q(runs__owner__in=ids)).exclude(topology={}).distinct()
                 .select_related("cluster__ownership").order_by("cluster__name", "hostname"))
    deployments = defaultdict(list)
    for record in NodeDeployment.objects.filter(node__in=nodes, owner__in=ids):
        deployments[record.node_id].append(record)
    users = defaultdict(set)
    for node_id, owner_id in (ExperimentRun.objects.filter(node__in=nodes, owner__in=ids)
                              .values_list("node_id", "owner_id").distinct()):
        users[node_id].add(owner_id)
    reports = []
    for node in nodes:
        owner_id = getattr(getattr(node.cluster, "ownership", None), "owner_id", None)
        if owner_id in names:
            users[node.id].add(owner_id)
        parsed = []
        for record in deployments[node.id]:
            users[node.id].add(record.owner_id)
            try:
                parsed.append(record.to_deployment())
            except ValueError:
                continue  # the learner's own cluster page says why it no longer parses
        measured = [PairMeasurement(gpus=gpus, busbw_Bps=busbw * 1e9)
                    for gpus, (busbw, _) in pair_measurements(node, viewer).items()]
        inputs = Inputs(clusterview.topology_node(node.topology, node.hostname), parsed, measured)
        reports.append(NodeReport(node, sorted(names[i] for i in users[node.id]), diagnose(inputs)))
    return sorted(reports, key=lambda report: [count for _, count in report.counts], reverse=True)

