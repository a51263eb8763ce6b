"""Hostile pastes (issue 13, items 1-4): every parser bounds what it accepts and reads its input in
linear time. The attacks are the ones that took the lab down: a 400-GPU nvlink -s, a launch line
with --pipeline-parallel-size 10000000, a YAML alias bomb, and megabyte lines."""
import time
from pathlib import Path

import pytest

from tpworkers.diagnose import limits
from tpworkers.diagnose.deployment_fields import DeploymentError
from tpworkers.diagnose.deployments import parse_deployments, parse_launch_line
from tpworkers.diagnose.nvsmi_parse import ParseError, parse

NVSMI = Path(__file__).parent / "fixtures" / "nvsmi"


def nvlink_s(gpus: int, links: int = 4) -> str:
    lines = []
    for g in range(gpus):
        lines.append(f"GPU {g}: NVIDIA H100 (UUID: GPU-{g:08x}-0000-0000-0000-000000000000)")
        lines += [f"\t Link {k}: 26.562 GB/s" for k in range(links)]
    return "\n".join(lines)


def topo_m(gpus: int, nics: int = 0) -> str:
    names = [f"GPU{g}" for g in range(gpus)] + [f"NIC{n}" for n in range(nics)]
    rows = ["\t" + "\t".join(names) + "\tCPU Affinity\tNUMA Affinity\tGPU NUMA ID"]
    for g in range(gpus):
        cells = ["X" if h == g else "NV4" for h in range(gpus)] + ["SYS"] * nics
        rows.append(f"GPU{g}\t" + "\t".join(cells) + "\t0-7\t0\tN/A")
    for n in range(nics):
        rows.append(f"NIC{n}\t" + "\t".join(["SYS"] * gpus + ["X" if m == n else "SYS" for m in range(nics)]))
    return "\n".join(rows)


def test_it_reads_a_16_gpu_node():
    kind, node = parse(nvlink_s(16, links=18))
    assert kind == "nvlink-status" and len(node.gpus) == 16
    assert len(parse(topo_m(16, nics=12))[1].gpus) == 16


def test_it_refuses_a_gpu_index_beyond_a_node():
    with pytest.raises(ParseError, match="at most 16 GPUs") as error:
        parse(nvlink_s(400))
    assert error.value.line_no == 16 * 5 + 1  # the first line of GPU 16


def test_it_refuses_a_topo_matrix_wider_than_a_node():
    with pytest.raises(ParseError, match="17 GPU columns.*at most 16 GPUs"):
        parse(topo_m(17))
    with pytest.raises(ParseError, match="33 NIC columns.*at most 32"):
        parse(topo_m(2, nics=33))


def test_it_refuses_more_links_than_nvml_knows_and_repeated_links():
    with pytest.raises(ParseError, match="Link 18.*at most 18 NVLinks"):
        parse(nvlink_s(2, links=19))
    repeated = nvlink_s(1, links=1) + "\n" + "\n".join(["\t Link 0: 26.562 GB/s"] * 3)
    with pytest.raises(ParseError, match="Link 0 of GPU 0 appears twice"):
        parse(repeated)


def test_it_refuses_numbers_no_node_has():
    huge_speed = nvlink_s(1, links=1).replace("26.562", "1" + "0" * 400)  # float() reads inf
    with pytest.raises(ParseError, match="at most 1000 GB/s"):
        parse(huge_speed)
    with pytest.raises(ParseError, match="unknown cell value"):
        parse(topo_m(2).replace("NV4", "NV" + "9" * 5000, 1))  # int() refuses > 4300 digits
    digits = topo_m(2).replace("\t0\tN/A", "\t" + "9" * 5000 + "\tN/A")
    assert parse(digits)[1].gpus[0].numa_affinity is None


def test_it_quotes_a_refused_line_cut_short():
    line = "GPU0 " + "x" * 100_000
    with pytest.raises(ParseError) as error:
        parse(line)
    assert len(str(error.value)) < 400 and "characters" in str(error.value)


@pytest.mark.parametrize("line, why", [
    ("vllm serve meta-llama/Llama-3.1-8B --tensor-parallel-size 2 --pipeline-parallel-size 10000000",
     "--pipeline-parallel-size.*at most 1024"),
    (f"vllm serve meta-llama/Llama-3.1-8B --tensor-parallel-size {2**63}", "--tensor-parallel-size.*at most 1024"),
    ("python -m sglang.launch_server --model-path meta-llama/Llama-3.1-8B --tp 2 --nnodes 99999",
     "--nnodes.*at most 1024"),
    ("vllm serve meta-llama/Llama-3.1-8B --tensor-parallel-size 8 --pipeline-parallel-size 4",
     "32 GPUs on each node.*at most 16 GPUs"),
    ("CUDA_VISIBLE_DEVICES=0,20 vllm serve meta-llama/Llama-3.1-8B -tp 2", "GPU indices.*0 to 15"),
    ("vllm serve meta-llama/Llama-3.1-8B --max-model-len 99999999999999", "--max-model-len.*at most"),
])
def test_it_refuses_launch_lines_beyond_real_deployments(line, why):
    with pytest.raises(DeploymentError, match=why):
        parse_launch_line(line)


def test_it_keeps_a_multi_node_deployment():
    [dep] = parse_deployments("python -m sglang.launch_server --model-path meta-llama/Llama-3.1-70B --tp 16 --nnodes 2")
    assert dep.tp == 16 and dep.gpu_indices == tuple(range(8))


ALIAS_BOMB = """\
a: &a ["llama","llama","llama","llama","llama","llama","llama","llama","llama"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
model: [*d,*d,*d,*d,*d,*d,*d,*d,*d]
"""


def test_it_refuses_yaml_aliases():
    with pytest.raises(DeploymentError, match="alias"):
        parse_deployments(ALIAS_BOMB)


@pytest.mark.parametrize("text, why", [
    ("model: [a, b]", "'model' must be a model name"),
    ("model: " + "x" * 201, "'model'.*at most 200"),
    ("model: Llama-3.1-8B\nnode: {a: 1}", "'node' must be"),
    ("- model: Llama-3.1-8B\n" * 33, "33 deployments; at most 32"),
])
def test_it_validates_every_yaml_field(text, why):
    with pytest.raises(DeploymentError, match=why):
        parse_deployments(text)


def test_it_refuses_a_paste_over_the_size_limit(monkeypatch):
    assert "64 KiB" in limits.paste_error("x" * (limits.MAX_PASTE_CHARS + 1))
    monkeypatch.setattr(limits, "MAX_PASTE_CHARS", 16 * 1024)  # the reason names the limit in force
    assert limits.paste_error("x" * (16 * 1024 + 1)).endswith("at most 16384 (16 KiB) are read")
    assert "per line" in limits.paste_error("x" * (limits.MAX_LINE_CHARS + 1))
    assert limits.paste_error((NVSMI / "h100-sxm-8gpu.nvlink-r.txt").read_text()) is None


# --- linear time -------------------------------------------------------------------------------
# Each family builds an input of n units; parsing 2n and 4n must take about 2x and 4x as long.
# The parsers run here without the paste-size limit (that is the form's), so a super-linear
# loop shows. The ratio, not an absolute time, is checked: a quadratic parser gives ~16 at 4x.


def _refused_or_parsed(function, text):
    try:
        function(text)
    except (ParseError, DeploymentError):
        pass


FAMILIES = {
    # the 1.2 MB topo -m header that took 24 s
    "topo -m header": (parse, lambda n: "\tGPU0\t" + "\t".join(["CPU"] * n) + "\nGPU0\tX"),
    # a valid 16-GPU matrix followed by a long legend
    "topo -m legend": (parse, lambda n: topo_m(4, 2) + "\n\nLegend:\n\n" + "\n".join(["  X    = Self"] * n)),
    # nvlink -s: many notes under 16 GPUs, and a GPU line repeated
    "nvlink -s notes": (parse, lambda n: nvlink_s(16) + "\n" + "\n".join(["NVML: Unable to retrieve"] * n)),
    "nvlink -s one line": (parse, lambda n: "GPU 0: " + "(UUID: GPU-0 " * n),
    # the 2.4 MB launch line with one long token, and many short lines
    "launch line token": (parse_deployments, lambda n: "vllm serve m --x " + "a" * (20 * n)),
    "launch lines": (parse_deployments, lambda n: "\n".join(["vllm serve Llama-3.1-8B -tp 2"] * n)),
    "yaml list": (parse_deployments, lambda n: "- model: Llama-3.1-8B\n  tp: 2\n" * n),
}


def _seconds(function, text, repeats=3):
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        _refused_or_parsed(function, text)
        best = min(best, time.perf_counter() - start)
    return best


@pytest.mark.parametrize("family", FAMILIES)
def test_it_parses_in_linear_time(family):
    function, make = FAMILIES[family]
    n = 16
    while _seconds(function, make(n), repeats=1) < 0.03 and n < 1_000_000:  # long enough to time
        n *= 2
    inputs = [make(n * k) for k in (1, 2, 4)]
    tries = []
    for _ in range(3):  # a busy shared machine can slow one timing; a quadratic parser fails all three
        times = [_seconds(function, text) for text in inputs]
        tries.append(f"1x {times[0]:.4f} s, 2x {times[1]:.4f} s, 4x {times[2]:.4f} s")
        if times[2] / times[0] < 8:  # linear: ~4; quadratic: ~16
            return
    pytest.fail(f"{family} grows faster than its input: " + "; ".join(tries))
