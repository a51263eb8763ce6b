"""The device flags every command line shares: --gpus means NCCL, gloo over CUDA only when asked."""

import pytest
import torch

from tpworkers.measure.collectives import __main__ as collectives_cli
from tpworkers.measure.decode_comm import __main__ as decode_comm_cli
from tpworkers.measure import layer_bench
from tpworkers.measure.devicegroup import ConfigError

PARSERS = {"collectives": collectives_cli.parse_args, "layer_bench": layer_bench.parse_args,
           "decode_comm": decode_comm_cli.parse_args}


def _group(cli: str, flags: list[str]):
    return PARSERS[cli](flags).device_group()


@pytest.mark.parametrize("cli", PARSERS)
def test_it_picks_nccl_on_cuda_when_gpus_are_named(cli):
    group = _group(cli, ["--gpus", "2,3", "--no-p2p"])
    assert (group.backend, group.device, group.gpus, group.p2p) == ("nccl", "cuda", (2, 3), False)


@pytest.mark.parametrize("cli", PARSERS)
def test_it_runs_gloo_over_cuda_only_when_asked(cli):
    group = _group(cli, ["--backend", "gloo", "--gpus", "0,0"])
    assert (group.backend, group.device, group.gpus) == ("gloo", "cuda", (0, 0))
    assert _group(cli, ["--device", "cuda"]).backend == "nccl"


@pytest.mark.parametrize("cli", PARSERS)
def test_it_stays_on_cpu_with_gloo_when_no_gpu_is_named(cli):
    group = _group(cli, [])
    assert (group.backend, group.device, group.gpus, group.p2p) == ("gloo", "cpu", (), True)


@pytest.mark.parametrize("cli", PARSERS)
@pytest.mark.parametrize("value", ["a,b", "0,x", "1.5", "-1"])
def test_it_refuses_malformed_gpu_lists_with_a_usage_error(cli, value, capsys):
    with pytest.raises(SystemExit) as exit_:
        PARSERS[cli]([f"--gpus={value}"])
    assert exit_.value.code == 2
    assert f"argument --gpus: expected GPU indices separated by commas, like 0,1 or 2,3; got '{value}'" in (
        capsys.readouterr().err)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without GPUs")
def test_it_refuses_the_readme_no_p2p_sweep_for_the_missing_gpu_not_for_the_backend(capsys):
    assert collectives_cli.main(["--nproc", "2", "--gpus", "2,3", "--no-p2p"]) == 2
    assert "torch sees no CUDA GPU" in capsys.readouterr().err


def test_it_still_refuses_no_p2p_on_gloo():
    with pytest.raises(ConfigError, match="only applies to the nccl backend"):
        _group("collectives", ["--no-p2p"]).validate()
