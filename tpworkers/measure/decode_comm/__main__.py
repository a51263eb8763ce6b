"""Command line of tpworkers.measure.decode_comm: the measured decode-step communication, the cost model
with α and B fitted on the same ranks, and the cost model on a catalog link, each labelled.

    python -m tpworkers.measure.decode_comm --model llama-3.1-70b --tp 2 -b 8 --layers 4
"""

import argparse

from tpworkers.catalog.links import LINKS
from tpworkers.catalog.sizes import format_size
from tpworkers.measure.configs import DecodeCommConfig
from tpworkers.measure.decode_comm import DecodeCommRecord, run_decode_comm
from tpworkers.measure.devicegroup import DTYPES, add_device_arguments, device_group_fields
from tpworkers.measure.launcher import run_command


def parse_args(argv=None) -> DecodeCommConfig:
    parser = argparse.ArgumentParser(prog="python -m tpworkers.measure.decode_comm", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="llama-3.1-70b")
    parser.add_argument("--tp", type=int, default=2)
    parser.add_argument("-b", "--tokens-in-flight", type=int, default=8)
    parser.add_argument("-d", "--dtype", choices=tuple(DTYPES), default="bfloat16")
    parser.add_argument("--link", choices=tuple(LINKS),
                        help="catalog link for the 'if this ran on' line (default: the link this device "
                             "group should have: its GPU's NVLink; none on CPU)")
    parser.add_argument("--layers", type=int, help="override the model's layer count")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--fit-iters", type=int, default=5, help="timed calls per size of the fit sweep")
    add_device_arguments(parser)
    args = parser.parse_args(argv)
    return DecodeCommConfig(model=args.model, tp=args.tp, tokens_in_flight=args.tokens_in_flight,
                            dtype=args.dtype, link=args.link, layers=args.layers, steps=args.steps,
                            fit_iters=args.fit_iters, **device_group_fields(args))


def report(config: DecodeCommConfig, r: DecodeCommRecord) -> str:
    where = f"{config.backend} on {config.device}, transport {r.transport or 'n/a'}"
    lines = [
        f"# {r.model}: L={r.layers}, TP={r.tp}, {r.tokens_in_flight} tokens in flight, {r.dtype}: "
        f"{r.allreduces_per_token} all-reduces of {r.bytes_each} B per token",
        f"measured  {r.measured_us_per_token:12.1f} us per token   per call: min {r.measured_call_min_us:.1f}, "
        f"median {r.measured_call_median_us:.1f}, p99 {r.measured_call_p99_us:.1f} us   ({where})",
    ]
    sizes = f"{format_size(r.fit_sizes_bytes[0])}..{format_size(r.fit_sizes_bytes[-1])}"
    if r.fitted_us_per_token is None:
        lines.append(f"modelled  (no fit: {r.fit_error}; all-reduce sweep {sizes})")
    else:
        lines.append(
            f"modelled  {r.fitted_us_per_token:12.1f} us per token   per call: {r.fitted_call_us:.1f} us   "
            f"(cost model with alpha {r.fitted_alpha_us:.1f} us, B {r.fitted_bandwidth_GBps:.3g} GB/s fitted on "
            f"this device group: all-reduce sweep {sizes}, {len(r.fit_sizes_bytes)} sizes, #wrong {r.fit_wrong})")
    if r.link is None:
        lines.append(f"# {r.link_basis}: pass --link to see what a catalog link would give")
    else:
        lines.append(f"if this ran on {r.link}: {r.modelled_us_per_token:.1f} us per token, "
                     f"{r.modelled_call_us:.1f} us per call   (modelled, catalog figures; {r.link_basis})")
    return "\n".join(lines)


def main(argv=None) -> int:
    config = parse_args(argv)

    def measure() -> int:
        record = run_decode_comm(config, on_record=lambda r: print(
            f"step {r.steps_done}: measured {r.measured_us_per_token:.1f} us per token so far"
            + ("" if r.fit_sizes_bytes is None else "; fit sweep done"), flush=True))
        print(report(config, record))
        return 0

    return run_command(measure)


if __name__ == "__main__":
    raise SystemExit(main())
