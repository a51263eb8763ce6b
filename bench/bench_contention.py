"""Do runs survive a class writing to the same database? Other learners commit guesses at a
steady rate (16 and 50 requests/s by default; every one a database write) while one learner's
runs (small gloo sweeps) are queued, measured and saved by the real worker on a running lab
(daphne, SQLite unless DATABASE_URL names PostgreSQL; loopback only). Printed per rate: the
write rate achieved, writes refused or failed, and runs done / failed (with the first reason).

    python -m bench.bench_contention --rates 16,50 --runs 8
"""

import argparse
import re
import threading
import time
import urllib.error
from concurrent.futures import ThreadPoolExecutor

from bench.livelab import STEP, BenchLab, machine

RUN = {"op": "all_reduce", "min_size": "1K", "max_size": "64K", "factor": "4", "dtype": "float32", "nproc": "2",
       "warmup": "1", "iters": "3"}
STATUS = re.compile(r'class="run-status (\w+)"')
ERROR = re.compile(r'<p class="error">(.*?)</p>', re.S)


def write_load(sessions, rate: float, stop: threading.Event, counts: dict) -> None:
    """One guess every 1/rate s, round-robin over the learners, alternating answers so each is a
    new attempt (a write), from a small pool of senders so a slow answer does not slow the rate."""
    def send(session, choice):
        try:
            session.post(STEP + "guess/", {"choice": choice})
            counts["ok"] += 1
        except urllib.error.HTTPError as error:
            counts[error.code] = counts.get(error.code, 0) + 1

    with ThreadPoolExecutor(16) as pool:
        began, i = time.monotonic(), 0
        while not stop.is_set():
            pool.submit(send, sessions[i % len(sessions)], ("weights", "requests")[(i // len(sessions)) % 2])
            i += 1
            time.sleep(max(0.0, began + i / rate - time.monotonic()))
        counts["sent"], counts["seconds"] = i, time.monotonic() - began


def run_status(session, run_id: int) -> tuple[str, str]:
    page = session.get(f"/lab/runs/{run_id}/").read().decode()
    error = ERROR.search(page)
    return STATUS.search(page).group(1), error.group(1).strip() if error else ""


def one_rate(lab: BenchLab, runner, writers, rate: float, runs: int, timeout_s: float) -> dict:
    counts, stop = {"ok": 0}, threading.Event()
    load = threading.Thread(target=write_load, args=(writers, rate, stop, counts))
    load.start()
    time.sleep(2)  # the load is on before the first run is pressed
    run_ids = [runner.start_run(**RUN) for _ in range(runs)]
    deadline, ended = time.monotonic() + timeout_s, {}
    while len(ended) < len(run_ids) and time.monotonic() < deadline:
        for run_id in run_ids:
            if run_id not in ended:
                status, error = run_status(runner, run_id)
                if status not in ("queued", "running"):
                    ended[run_id] = (status, error)
        time.sleep(1)
    stop.set()
    load.join()
    failed = [error for status, error in ended.values() if status != "done"]
    return {"rate": counts["sent"] / counts["seconds"], "ok": counts["ok"],
            "refused": sum(v for k, v in counts.items() if isinstance(k, int)), "runs": len(run_ids),
            "done": sum(1 for status, _ in ended.values() if status == "done"), "failed": len(failed),
            "unfinished": len(run_ids) - len(ended), "reason": failed[0] if failed else "",
            "codes": {k: v for k, v in counts.items() if isinstance(k, int)}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="16,50")
    parser.add_argument("--runs", type=int, default=8, help="runs pressed per rate")
    parser.add_argument("--writers", type=int, default=10, help="learners committing guesses")
    parser.add_argument("--timeout-s", type=float, default=180)
    args = parser.parse_args()
    with BenchLab(env={"TPLAB_MAX_ACTIVE_RUNS_PER_LEARNER": "100"}) as lab:
        engine = lab.query("__import__('django.conf').conf.settings.DATABASES['default']['ENGINE']")
        print(f"# {machine()}; {engine.rsplit('.', 1)[-1]}")
        writers = lab.learners("writer", args.writers)
        runner = lab.learner("runner")
        print("| target writes/s | achieved | writes ok | refused/failed | runs | done | failed | unfinished |")
        print("|---:|---:|---:|---:|---:|---:|---:|---:|")
        for rate in (float(x) for x in args.rates.split(",")):
            r = one_rate(lab, runner, writers, rate, args.runs, args.timeout_s)
            print(f"| {rate:.0f} | {r['rate']:.1f} | {r['ok']} | {r['refused']} | {r['runs']} | {r['done']} | "
                  f"{r['failed']} | {r['unfinished']} |", flush=True)
            if r["codes"]:
                print(f"writes answered with an error status: {r['codes']}")
            if r["reason"]:
                print(f"first failure: {r['reason']}")


if __name__ == "__main__":
    main()
