"""`python -m tpworkers.diagnose FILES...`: findings for one node from pasted nvidia-smi outputs,
launch lines, deployment YAML, saved NVML probes, config.json files and measurements
(what each file may hold: tpworkers/diagnose/inputs.py)."""

import argparse

from tpworkers.diagnose.findings import diagnose
from tpworkers.diagnose.inputs import InputError, load


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tpworkers.diagnose", description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="+", metavar="FILE", help="nvidia-smi outputs, launch lines, YAML, JSON")
    parser.add_argument("--earlier", metavar="PROBE.json",
                        help="an earlier NVML probe of the same node: are NVLink error counters rising?")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    try:
        args = parse_args(argv)
    except SystemExit as exc:  # argparse has printed the usage and the problem
        return int(exc.code or 0)
    try:
        inputs = load(args.files, args.earlier)
    except InputError as exc:
        print(f"error: {exc}")
        return 2
    found = diagnose(inputs)
    node = inputs.node
    print(f"{node.hostname}: {len(node.gpus)} GPUs, {len(inputs.deployments)} deployment(s), "
          f"{len(found)} finding(s)")
    for reason in node.reasons:  # what the pastes left unknown (elisions, NVML notes, ...)
        print(f"note: {reason}")
    for finding in found:
        print()
        print(finding.render())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
