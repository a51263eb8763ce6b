"""Creating, queueing, finding and cancelling runs: the rules every run button, view and socket
shares."""

import logging

from asgiref.sync import async_to_sync
from celery import current_app
from channels.layers import get_channel_layer
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction

from labapp.roles import can_see_owned
from tpworkers.events import RUN_TASK, status_events
from tpworkers.experiments import RUN_BUDGET_S, estimate_memory_bytes, estimate_seconds
from tpworkers.measure.devicegroup import ConfigError
from tpworkers.models import ExperimentRun, Node

log = logging.getLogger(__name__)


class RunRefused(Exception):
    """The run was not created; the message says why, in words for the learner. A refusal about
    some runs (those that count towards the learner's limit) names them where the message says
    {runs}: "#12 (queued)" here, a link on a page."""

    def __init__(self, message: str, runs: list[ExperimentRun] = ()):
        self.message, self.runs = message, list(runs)
        super().__init__(message.format(runs=", ".join(f"#{run.pk} ({run.status})" for run in self.runs)))


def run_for_user(user, run_id: int) -> ExperimentRun | None:
    """The run, if this user may see it (its owner or an instructor); None otherwise, so a
    stranger cannot even learn that the run exists."""
    run = ExperimentRun.objects.select_related("node").filter(pk=run_id).first()
    if run is None or not can_see_owned(user, run.owner_id):
        return None
    return run


def run_to_watch(user, run_id: int) -> tuple[ExperimentRun | None, bool]:
    """(the run if this user may watch it, whether they may also act on it). Those run_for_user
    lets see it may act; a learner of a cohort whose open live class shows it only watches:
    cancelling or re-running still needs run_for_user."""
    run = run_for_user(user, run_id)
    if run is not None:
        return run, True
    run = ExperimentRun.objects.select_related("node").filter(pk=run_id).first()
    return (run, False) if run is not None and _shown_to_class(user, run) else (None, False)


def _shown_to_class(user, run: ExperimentRun) -> bool:
    """The instructor pressed the lab's run button once for the class (lessons.liveclass)."""
    return user.is_authenticated and run.live_rounds.filter(
        session__ended_at__isnull=True, session__cohort__memberships__learner=user).exists()


def run_rows(run: ExperimentRun) -> list[dict]:
    """One row per planned row: measured data where it exists, a pending row otherwise."""
    measured = {m.seq: m.data for m in run.measurements.all()}
    return [{"seq": seq, "label": label, "data": measured.get(seq)} for seq, label in enumerate(run.planned_rows())]


def create_run(owner, experiment: str, params: dict, node: Node | None = None, return_to: str = "") -> ExperimentRun:
    [run] = create_runs(owner, experiment, [params], node, return_to)
    return run


def create_runs(owner, experiment: str, params_list: list[dict], node: Node | None = None,
                return_to: str = "") -> list[ExperimentRun]:
    """Queue one run per parameter set, all or none. One press is one request against the
    learner's limit: a batch (every GPU pair of a node) is refused only while the learner already
    has the limit's worth of runs active, so it cannot be combined with other runs to flood a
    node, yet "measure all pairs" needs one press, not one per pair. Each run keeps its own
    duration budget."""
    node = node or Node.default()
    if node is None:
        raise RunRefused("No lab worker has registered yet: start the lab with `python3 lab.py run`, or a "
                         "node's worker with `python3 lab.py worker --cluster NAME`.")
    for params in params_list:
        _check_budget(experiment, params, node)
    fail_stalled_runs(owner.runs.filter(status__in=ExperimentRun.ACTIVE))
    # Count and create under one lock, or two presses at once both see room (200 parallel POSTs
    # made 14 active runs): PostgreSQL locks the learner's row until the runs are saved; SQLite's
    # IMMEDIATE transaction (labapp/settings.py) holds the database's write lock from BEGIN.
    with transaction.atomic():
        get_user_model().objects.select_for_update().filter(pk=owner.pk).first()
        active = list(owner.runs.filter(status__in=ExperimentRun.ACTIVE).order_by("created_at"))
        if len(active) >= settings.MAX_ACTIVE_RUNS_PER_LEARNER:
            raise RunRefused(f"You already have {len(active)} runs queued or running (the limit is "
                             f"{settings.MAX_ACTIVE_RUNS_PER_LEARNER}): {{runs}}. Wait for one to finish or cancel it.",
                             runs=active)
        runs = [ExperimentRun.objects.create(owner=owner, experiment=experiment, params=params, node=node,
                                             return_to=return_to) for params in params_list]
        for run in runs:
            transaction.on_commit(lambda run=run: queue_run(run))
    return runs


def queue_run(run: ExperimentRun) -> None:
    """Hand a saved run to its node's worker. By task name, so the web process never imports the
    worker's modules (and torch with them).

    The saved run is the truth, the message only a wake-up: with the broker down (a Redis being
    restarted) the run stays queued, and the worker that starts next sends it again
    (labworker.requeue_waiting_runs) — the learner gets the run's page, not an error."""
    try:
        current_app.send_task(RUN_TASK, args=[run.pk], queue=run.node.queue)
    except Exception:  # kombu's OperationalError, or whatever a dead broker raises
        log.warning("could not queue run %s now; its node's worker will queue it again when it starts",
                    run.pk, exc_info=True)


def _check_budget(experiment: str, params: dict, node: Node) -> None:
    try:
        seconds, device = estimate_seconds(experiment, params, node.gpu_count)
        memory, budget = estimate_memory_bytes(experiment, params, node.gpu_count)
    except (ConfigError, KeyError, ValueError) as exc:
        raise RunRefused(f"These parameters cannot run on {node.hostname}: {exc}") from None
    if seconds > RUN_BUDGET_S:
        raise RunRefused(f"This run would hold {node.hostname} for about {seconds / 60:.0f} min (a rough, "
                         f"pessimistic estimate for {device}); the limit is {RUN_BUDGET_S // 60} min per run: "
                         "measure fewer sizes or iterations, or a smaller shape.")
    if memory > budget:
        where = "for all ranks on the host" if device.startswith("gloo on CPU") else "per GPU"
        raise RunRefused(f"This run would need about {memory / 1e9:.0f} GB of memory {where} ({device}); the limit "
                         f"is {budget / 1e9:.0f} GB: choose a smaller hidden or FFN size, fewer tokens, or fewer ranks.")


def rerun(run: ExperimentRun, owner) -> ExperimentRun:
    """The same experiment with the same parameters, on the same node."""
    return create_run(owner, run.experiment, run.params, run.node, run.return_to)


def cancel(run: ExperimentRun) -> None:
    """A queued run ends now; a running one stops after the size it is measuring."""
    ended = ExperimentRun.objects.filter(pk=run.pk, status=ExperimentRun.Status.QUEUED).update(
        status=ExperimentRun.Status.CANCELLED, error="Cancelled before it started."
    )
    if ended:
        run.refresh_from_db()
        publish_status(run)
    else:
        ExperimentRun.objects.filter(pk=run.pk, status=ExperimentRun.Status.RUNNING).update(cancel_requested=True)


def fail_stalled_runs(runs) -> list[ExperimentRun]:
    """Run the stall check on these runs now (a killed worker never reports, and nobody may be
    watching); publish each one it failed. Returns those."""
    failed = [run for run in runs.select_related("node") if run.fail_if_stalled()]
    for run in failed:
        publish_status(run)
    return failed


def publish_status(run: ExperimentRun) -> None:
    """Status messages from a web request or a management command (the worker's task publishes
    through its own loop). The status is already saved: if Redis is down, a reload shows it."""
    layer = get_channel_layer()
    for group, event in status_events(run):
        try:
            async_to_sync(layer.group_send)(group, event.to_message())
        except Exception:
            log.exception("could not publish the status of run %s to %s", run.pk, group)
