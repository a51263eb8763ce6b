"""Creating, queueing and cancelling runs: the rules every run button shares."""

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction

from tpworkers.events import StatusEvent, run_group
from tpworkers.models import ExperimentRun, Node


class RunRefused(Exception):
    """The run was not created; the message says why, in words for the learner."""


def create_run(owner, experiment: str, params: dict, node: Node | None = None, return_to: str = "") -> ExperimentRun:
    node = node or Node.default()
    if node is None:
        raise RunRefused("No lab worker has registered yet: start one with `python manage.py labworker`.")
    active = owner.runs.filter(status__in=ExperimentRun.ACTIVE).count()
    if active >= settings.MAX_ACTIVE_RUNS_PER_LEARNER:
        raise RunRefused(f"You already have {active} runs queued or running (the limit is "
                         f"{settings.MAX_ACTIVE_RUNS_PER_LEARNER}); wait for one to finish or cancel it.")
    run = ExperimentRun.objects.create(owner=owner, experiment=experiment, params=params, node=node,
                                       return_to=return_to)
    from tpworkers.tasks import run_experiment

    transaction.on_commit(lambda: run_experiment.apply_async(args=[run.pk], queue=node.queue))
    return run


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


def publish_status(run: ExperimentRun) -> None:
    """One status message from a web request (the worker publishes through its own loop)."""
    async_to_sync(get_channel_layer().group_send)(run_group(run.pk), StatusEvent(run.pk, run.status, run.error).to_message())
