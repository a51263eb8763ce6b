"""A run's device group is stored as data (ExperimentRun.devices) and shown in words; the
migration reads the old text once, in the shapes the old code wrote."""

import importlib

import pytest

from tpworkers.experiments import describe_devices, device_fields
from tpworkers.measure.configs import SweepConfig
from tests.support_runs import cpu_ranks, nccl_gpus

migration = importlib.import_module("tpworkers.migrations.0005_run_devices")


@pytest.mark.parametrize("text", ["nccl on GPU 0,1", "nccl on GPU 2,3, P2P off", "gloo on CPU, 4 ranks",
                                  "gloo on GPU 0,0"])
def test_it_reads_every_old_description_back_to_the_same_words(text):
    assert describe_devices(migration.devices_from_text(text)) == text


def test_it_keeps_an_unreadable_old_description_as_not_started():
    assert migration.devices_from_text("something else") == {}


def test_it_stores_what_the_config_runs_on():
    config = SweepConfig(nproc=2, backend="nccl", device="cuda", gpus=(2, 3), p2p=False)
    assert device_fields(config) == nccl_gpus(2, 3, p2p=False)
    assert device_fields(SweepConfig(nproc=4)) == cpu_ranks(4)


@pytest.mark.django_db
def test_it_answers_which_gpus_a_run_used(make_run, learner):
    run = make_run(learner)
    assert run.gpus_used() is None and run.device_group == ""
    run.mark_running(worker="tplab@testnode", devices=nccl_gpus(0, 1))
    assert run.gpus_used() == (0, 1) and run.device_group == "nccl on GPU 0,1"
    run.devices = cpu_ranks(2)
    assert run.gpus_used() == ()
