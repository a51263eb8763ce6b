"""Prove the GPU paths on a real GPU in one command, in well under 5 minutes on one GPU.

    python -m bench.gpu_check --json gpu-report.json --markdown docs/gpu-report.md

Steps: the NVML probe and the health page's GPU section; nvidia-smi's topo -m, nvlink -s / -R and
topo -p2p fed to the project's parsers and to the findings, and the probed topology compared with
the parsed one field by field; the project's CUDA-event timer against torch.utils.benchmark on a
matmul and a copy; collectives with NCCL on one rank and gloo over CUDA with two ranks on the GPU;
a sharded layer against the unsharded one in float32 and bfloat16; HBM read bandwidth against the
catalog's datasheet figure; tests/test_gpu_paths.py. Without a GPU every step says why it was
skipped and the command exits 0 (CI runs it so); with one it exits 1 if a step failed.
Needs torch and nvidia-ml-py, not Django.
"""

import argparse
import json
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from tpworkers.catalog.gpus import find_gpu
from tpworkers.diagnose import nvml_probe
from tpworkers.diagnose.findings import diagnose
from tpworkers.diagnose.inputs import load
from tpworkers.diagnose.nvsmi_parse import ParseError, parse
from tpworkers.diagnose.topology import Node
from tpworkers.measure.collectives import run_sweep
from tpworkers.measure.collectives.__main__ import table_header, table_row
from tpworkers.measure.configs import OPS, SweepConfig
from tpworkers.measure.launcher import DeviceGroup, get_pool, shutdown_pool
from tpworkers.measure.timing import per_call_seconds
from tpworkers.measure.tp_layers import relative_difference

ROOT = Path(__file__).resolve().parent.parent
TIMER_TOLERANCE = 0.05  # the project's timer within 5% of torch.utils.benchmark's median
# Sharded vs unsharded layer, max |difference| / max |full|: float32 sums in another order
# (a few ulp of 2^-24 over hidden-size terms), bfloat16 rounds every matmul to 8 bits (2^-8).
LAYER_TOLERANCE = {"float32": 1e-4, "bfloat16": 5e-2}
SMI_OUTPUTS = {"topo -m": ["topo", "-m"], "nvlink -s": ["nvlink", "-s"], "nvlink -R": ["nvlink", "-R"],
               "topo -p2p r": ["topo", "-p2p", "r"]}


@dataclass
class Step:
    name: str
    status: str                 # pass, fail, skipped, info
    detail: str
    data: dict = field(default_factory=dict)


def gpu_count() -> int:
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def no_gpu(name: str) -> Step:
    return Step(name, "skipped", f"torch sees no CUDA GPU (torch {torch.__version__}, "
                                 f"torch.cuda.is_available() is {torch.cuda.is_available()})")


# ------------------------------------------------------------------------------------ the steps

def step_environment() -> Step:
    node = nvml_probe.probe()
    data = {"torch": torch.__version__, "cuda_runtime": torch.version.cuda, "driver": node.driver_version,
            "cuda_driver": node.cuda_version, "python": platform.python_version(),
            "gpus": [gpu.name for gpu in node.gpus], "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    return Step("environment", "info", ", ".join(f"{k} {v}" for k, v in data.items()), data)


def step_nvml() -> tuple[Step, Node]:
    node, summary = nvml_probe.probe(), nvml_probe.gpu_summary()
    if not node.gpus:
        return Step("NVML probe and /healthz GPU section", "skipped", summary.get("reason", "no GPU"), summary), node
    same = summary["count"] == len(node.gpus)
    return Step("NVML probe and /healthz GPU section", "pass" if same else "fail",
                nvml_probe.describe(node), {"health": summary}), node


def step_nvidia_smi(probed: Node) -> Step:
    name = "nvidia-smi outputs through the parsers and the findings"
    if shutil.which("nvidia-smi") is None:
        return Step(name, "skipped", "nvidia-smi is not on PATH")
    texts, parsed, problems = {}, [], []
    for label, args in SMI_OUTPUTS.items():
        result = subprocess.run(["nvidia-smi", *args], capture_output=True, text=True, timeout=60)
        if result.returncode != 0 or not result.stdout.strip():
            texts[label] = f"(printed nothing: exit {result.returncode} {result.stderr.strip()[:120]})"
            continue
        texts[label] = result.stdout
        try:
            kind, node = parse(result.stdout, probed.hostname)
            parsed.append((f"{label} as {kind}", node))
        except ParseError as error:
            problems.append(f"{label}: refused by the parser: {error}")
    problems += compare_topologies(probed, [node for _, node in parsed])
    with tempfile.TemporaryDirectory() as folder:
        files = []
        for index, (label, text) in enumerate(texts.items()):
            if not text.startswith("(printed nothing"):
                files.append(Path(folder, f"{index}.txt"))
                files[-1].write_text(text)
        findings = diagnose(load([str(path) for path in files])) if files else []
    detail = "\n".join([f"parsed: {', '.join(read for read, _ in parsed) or 'nothing'}",
                        *[f"finding: [{f.severity}] {f.title}" for f in findings], *problems])
    return Step(name, "fail" if problems else "pass", detail,
                {"outputs": texts, "findings": [f.render() for f in findings], "mismatches": problems})


def compare_topologies(probed: Node, parsed: list[Node]) -> list[str]:
    """Field by field: every GPU, NVLink state and pair the parsers read must agree with NVML."""
    mismatches = []
    for node in parsed:
        for gpu in node.gpus:
            twin = next((g for g in probed.gpus if g.index == gpu.index), None)
            if twin is None:
                mismatches.append(f"GPU{gpu.index} parsed but not probed")
                continue
            for link in gpu.nvlinks:
                other = next((l for l in twin.nvlinks if l.link == link.link), None)
                if link.state and other is not None and other.state and link.state != other.state:
                    mismatches.append(f"GPU{gpu.index} link {link.link}: parsed {link.state}, NVML {other.state}")
            if gpu.numa_affinity is not None and twin.numa_affinity is not None \
                    and gpu.numa_affinity != twin.numa_affinity:
                mismatches.append(f"GPU{gpu.index} NUMA affinity: parsed {gpu.numa_affinity}, NVML {twin.numa_affinity}")
        for pair in node.pairs:
            twin = next((p for p in probed.pairs if (p.a, p.b) == (pair.a, pair.b)), None)
            if twin is not None and pair.nvlink_count is not None and twin.nvlink_count is not None \
                    and pair.nvlink_count != twin.nvlink_count:
                mismatches.append(f"GPU{pair.a}-GPU{pair.b}: parsed NV{pair.nvlink_count}, NVML NV{twin.nvlink_count}")
    return mismatches


def step_timer() -> Step:
    name = "CUDA-event timer against torch.utils.benchmark"
    if not gpu_count():
        return no_gpu(name)
    from torch.utils import benchmark

    device = torch.device("cuda", 0)
    a = torch.randn(4096, 4096, device=device, dtype=torch.bfloat16)
    source = torch.empty(256 << 20, dtype=torch.uint8, device=device)
    target = torch.empty_like(source)
    kernels = {"matmul 4096² bf16": lambda: a @ a, "copy 256 MiB": lambda: target.copy_(source)}
    rows, worst = {}, 0.0
    for label, call in kernels.items():
        for _ in range(5):
            call()
        ours = statistics.median(per_call_seconds([call] * 50, device))
        theirs = benchmark.Timer(stmt="call()", globals={"call": call}).timeit(50).median
        rows[label] = {"ours_us": ours * 1e6, "benchmark_us": theirs * 1e6, "ratio": ours / theirs}
        worst = max(worst, abs(ours / theirs - 1))
    detail = "; ".join(f"{k}: ours {v['ours_us']:.1f} µs, benchmark {v['benchmark_us']:.1f} µs, "
                       f"ratio {v['ratio']:.3f}" for k, v in rows.items())
    return Step(name, "pass" if worst <= TIMER_TOLERANCE else "fail", detail, rows)


def step_collectives() -> Step:
    name = "collectives: NCCL on one rank, gloo over CUDA with two ranks on the GPU"
    if not gpu_count():
        return no_gpu(name)
    sizes = dict(min_bytes=1 << 10, max_bytes=64 << 20, factor=8, warmup=2, iters=10)
    configs = [SweepConfig(op=op, nproc=1, backend="nccl", device="cuda", gpus=(0,), **sizes) for op in OPS]
    configs.append(SweepConfig(op="all_reduce", nproc=2, backend="gloo", device="cuda", gpus=(0, 0), **sizes))
    lines, wrong = [], 0
    for config in configs:
        result = run_sweep(config)
        lines += [table_header(config), *map(table_row, result.measurements)]
        wrong += sum(m.wrong for m in result.measurements)
    shutdown_pool()
    return Step(name, "pass" if wrong == 0 else "fail", "\n".join(lines + [f"#wrong total: {wrong}"]), {"wrong": wrong})


def step_layers() -> Step:
    name = "sharded layers against the unsharded layer"
    if not gpu_count():
        return no_gpu(name)
    dims, rows, failed = (512, 2048, 8, 4), [], False
    groups = {1: DeviceGroup(nproc=1, backend="nccl", device="cuda", gpus=(0,)),
              2: DeviceGroup(nproc=2, backend="gloo", device="cuda", gpus=(0, 0))}  # 2 ranks share GPU 0
    for tp, group in groups.items():
        pool = get_pool(group)
        for dtype, tolerance in LAYER_TOLERANCE.items():
            for kind in ("mlp", "attention", "layer"):
                out, grad = next(r for r in pool.run(relative_difference, (kind, tp, dims, dtype)) if r)
                ok = out <= tolerance and grad <= tolerance
                failed |= not ok
                where = "1 rank" if tp == 1 else "2 ranks sharing one GPU (gloo)"
                rows.append(f"TP={tp} ({where}) {kind:<9} {dtype:<8} output {out:.1e}, input grad {grad:.1e} "
                            f"(tolerance {tolerance:.0e}) {'ok' if ok else 'FAIL'}")
        shutdown_pool()
    return Step(name, "fail" if failed else "pass", "\n".join(rows))


def step_hbm() -> Step:
    name = "HBM read bandwidth against the catalog (decode weight-read floor)"
    if not gpu_count():
        return no_gpu(name)
    device = torch.device("cuda", 0)
    size = min(4 << 30, torch.cuda.mem_get_info(device)[0] // 4)
    buffer = torch.ones(size // 4, dtype=torch.float32, device=device)
    for _ in range(3):
        buffer.sum()
    seconds = statistics.median(per_call_seconds([buffer.sum] * 20, device))
    measured = size / seconds
    gpu_name = torch.cuda.get_device_name(device)
    catalog = find_gpu(gpu_name)
    data = {"gpu": gpu_name, "bytes": size, "measured_read_TBps": measured / 1e12}
    if catalog is None or catalog.hbm_Bps is None:
        return Step(name, "info", f"{gpu_name}: read {measured / 1e12:.2f} TB/s measured; no catalog figure", data)
    data.update(catalog_TBps=catalog.hbm_Bps / 1e12, ratio=measured / catalog.hbm_Bps)
    return Step(name, "info", f"{gpu_name}: read {measured / 1e12:.2f} TB/s measured, catalog {catalog.key} "
                              f"{catalog.hbm_Bps / 1e12:.2f} TB/s (datasheet), measured/catalog "
                              f"{measured / catalog.hbm_Bps:.2f}", data)


def step_gpu_tests() -> Step:
    name = "tests/test_gpu_paths.py"
    if not gpu_count():
        return no_gpu(name)
    result = subprocess.run([sys.executable, "-m", "pytest", "tests/test_gpu_paths.py", "-q", "-rfEs",
                             "-p", "no:cacheprovider"], cwd=ROOT, capture_output=True, text=True, timeout=240)
    tail = result.stdout.strip().splitlines()[-25:]
    if "No module named pytest" in result.stderr or "No module named 'django'" in result.stdout + result.stderr:
        return Step(name, "skipped", "pytest or Django is not installed on this machine: "
                                     + (result.stderr.strip().splitlines() or ["?"])[-1])
    return Step(name, "pass" if result.returncode == 0 else "fail", "\n".join(tail))


# ------------------------------------------------------------------------------------ reporting

SYMBOL = {"pass": "PASS", "fail": "FAIL", "skipped": "SKIP", "info": "INFO"}


def run_steps() -> list[Step]:
    steps = [step_environment()]
    nvml, probed = step_nvml()
    steps += [nvml, step_nvidia_smi(probed)]
    for step in (step_timer, step_collectives, step_layers, step_hbm, step_gpu_tests):
        begin = time.monotonic()
        try:
            done = step()
        except Exception as exc:  # one broken path must not hide the others
            done = Step(step.__name__.removeprefix("step_"), "fail", f"raised {exc!r}")
        done.data["seconds"] = round(time.monotonic() - begin, 1)
        steps.append(done)
    return steps


def as_text(steps: list[Step]) -> str:
    blocks = [f"[{SYMBOL[s.status]}] {s.name}\n" + "\n".join(f"    {line}" for line in s.detail.splitlines())
              for s in steps]
    return "\n\n".join(blocks)


def as_markdown(steps: list[Step]) -> str:
    env = steps[0].data
    lines = ["# GPU check report", "", f"`python -m bench.gpu_check`, {env.get('date')}: "
             f"GPUs {', '.join(env.get('gpus') or ['none'])}, driver {env.get('driver')}, "
             f"CUDA {env.get('cuda_runtime')}, torch {env.get('torch')}.", ""]
    for s in steps[1:]:
        lines += [f"## {SYMBOL[s.status]}: {s.name}", "", "```", s.detail, "```", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.gpu_check", description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", metavar="PATH", help="write every step and its data as JSON")
    parser.add_argument("--markdown", metavar="PATH", help="write the report as Markdown (docs/gpu-report.md)")
    args = parser.parse_args(argv)
    steps = run_steps()
    print(as_text(steps), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps([asdict(s) for s in steps], indent=1, default=str))
    if args.markdown:
        Path(args.markdown).write_text(as_markdown(steps))
    failed = [s.name for s in steps if s.status == "fail"]
    print(f"\n{len(failed)} step(s) failed" + (f": {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
