"""bench/gpu_check.py: on this machine (no GPU) every step says why it was skipped and the command
exits 0; its nvidia-smi step runs the real parsers on recorded outputs served by a stand-in
nvidia-smi and catches a probe that disagrees; the layer comparison runs on CPU ranks."""

import json
import os
import stat

import pytest

from bench import gpu_check
from tpworkers.diagnose.nvsmi_parse import parse
from tpworkers.measure.launcher import DeviceGroup, get_pool
from tpworkers.measure.tp_layers import relative_difference
from tests.test_nvsmi_parse import FIXTURES

BRIDGE = {"topo -m": "h100-pcie-2gpu-bridge.topo-m.txt", "nvlink -s": "h100-pcie-2gpu-bridge.nvlink-s.txt",
          "nvlink -R": "h100-pcie-2gpu-bridge.nvlink-r.txt", "topo -p2p r": "h100-pcie-2gpu-bridge.p2p-r.txt"}


@pytest.mark.skipif(gpu_check.gpu_count() > 0, reason="this machine has a GPU: the steps run instead")
def test_it_skips_every_gpu_step_with_its_reason_and_exits_0(tmp_path, capsys):
    assert gpu_check.main(["--json", str(tmp_path / "r.json"), "--markdown", str(tmp_path / "r.md")]) == 0
    steps = json.loads((tmp_path / "r.json").read_text())
    assert [s["status"] for s in steps[1:]] == ["skipped"] * (len(steps) - 1)
    assert all(s["detail"] for s in steps)  # each says why
    assert "torch sees no CUDA GPU" in capsys.readouterr().out
    assert (tmp_path / "r.md").read_text().startswith("# GPU check report")


@pytest.fixture
def recorded_nvidia_smi(tmp_path, monkeypatch):
    """A stand-in nvidia-smi on PATH that prints outputs recorded on a real H100 PCIe pair."""
    script = tmp_path / "nvidia-smi"
    cases = "\n".join(f'  "{" ".join(args)}") cat "{FIXTURES / BRIDGE[label]}" ;;'
                      for label, args in gpu_check.SMI_OUTPUTS.items())
    script.write_text(f'#!/bin/sh\ncase "$*" in\n{cases}\n  *) exit 9 ;;\nesac\n')
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")


def _probed_bridge_node():
    return parse((FIXTURES / BRIDGE["nvlink -s"]).read_text())[1]


def test_it_parses_and_diagnoses_what_nvidia_smi_prints(recorded_nvidia_smi):
    step = gpu_check.step_nvidia_smi(_probed_bridge_node())
    assert step.status == "pass", step.detail
    assert "topo -m as topo-m" in step.detail and "topo -p2p r as topo-p2p" in step.detail
    assert "nvlink -s as nvlink-status" in step.detail and "nvlink -R as nvlink-remote" in step.detail
    assert set(step.data["outputs"]) == set(gpu_check.SMI_OUTPUTS)


def test_it_fails_when_the_probe_and_the_parsed_outputs_disagree(recorded_nvidia_smi):
    probed = _probed_bridge_node()
    active = next(link for link in probed.gpus[0].nvlinks if link.state == "active")
    active.state = "inactive"
    step = gpu_check.step_nvidia_smi(probed)
    assert step.status == "fail"
    assert f"GPU0 link {active.link}: parsed active, NVML inactive" in step.detail


@pytest.mark.parametrize("kind", ["mlp", "attention"])
def test_it_compares_a_sharded_layer_within_the_stated_tolerance(kind):
    pool = get_pool(DeviceGroup(nproc=2))
    out, grad = next(r for r in pool.run(relative_difference, (kind, 2, (64, 256, 8, 4), "float32")) if r)
    assert 0 <= out <= gpu_check.LAYER_TOLERANCE["float32"]
    assert 0 <= grad <= gpu_check.LAYER_TOLERANCE["float32"]
