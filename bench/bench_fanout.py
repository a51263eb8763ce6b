"""How many learners can watch one run live? N websockets (10, 50, 200 by default) on one run of
a running lab (private Redis, a real worker, daphne; loopback only), in repeated bursts: each
burst is a new run, watched from the moment it is queued until it ends.

Per burst: rows lost (planned rows × watchers − rows received) and the delivery spread of each
row, the time from the first watcher receiving it to each other watcher receiving it, p50/p99/
max over every (row, watcher). A run is held queued behind a long "busy" sweep until every
watcher has its snapshot, then the busy sweep is cancelled, so every row arrives live.
Bounded: --timeout-s per burst; watchers are asyncio clients in this one process. --busy N keeps
N other learners reloading a lesson step page on the same lab during every burst (a busy site);
the pages they were served per second is printed beside each burst.

    python -m bench.bench_fanout --watchers 10,50,200 --bursts 2 --web 1
    python -m bench.bench_fanout --watchers 200 --web 2    # two ASGI processes, one channel layer
    python -m bench.bench_fanout --watchers 200 --busy 20  # while 20 learners reload lesson pages
"""

import argparse
import asyncio
import re
import threading
import time
from contextlib import contextmanager, nullcontext

from websockets.asyncio.client import connect

from bench.bench_pages import hammer
from bench.livelab import STEP, BenchLab, machine, percentile
from tpworkers.measure.configs import SweepConfig

ROW = re.compile(r'id="run-(\d+)-row-(\d+)" class="measured"')
STATUS = re.compile(r'id="run-(\d+)-status" class="run-status (\w+)"')
WATCHED = {"op": "all_reduce", "min_size": "1K", "max_size": "1M", "factor": "2", "dtype": "float32",
           "nproc": "2", "warmup": "1", "iters": "3"}
BUSY = {**WATCHED, "max_size": "256M", "factor": "2", "iters": "20"}


async def watch(port: int, cookie: str, run_id: int, connected: asyncio.Event, snapshots: list,
                timeout_s: float) -> dict:
    """Rows this watcher received, with the time each first arrived, and how the run ended."""
    arrived: dict = {}
    url = f"ws://127.0.0.1:{port}/ws/runs/{run_id}/"
    async with connect(url, additional_headers={"Cookie": cookie, "Origin": f"http://127.0.0.1:{port}"},
                       open_timeout=timeout_s, max_queue=None) as socket:
        await socket.recv()  # the snapshot's status: subscribed
        snapshots.append(1)
        connected.set()
        deadline = time.monotonic() + timeout_s
        while True:
            message = await asyncio.wait_for(socket.recv(), max(0.1, deadline - time.monotonic()))
            now = time.monotonic()
            for rid, seq in ROW.findall(message):
                if int(rid) == run_id:
                    arrived.setdefault(int(seq), now)
            final = [s for rid, s in STATUS.findall(message) if int(rid) == run_id and s in ("done", "failed", "cancelled")]
            if final:
                arrived["status"] = final[0]
                return arrived


async def burst(lab: BenchLab, session, watchers: int, timeout_s: float) -> dict:
    busy = session.start_run(**BUSY)
    run_id = session.start_run(**WATCHED)
    planned = len(SweepConfig.from_params(lab.query(f"ExperimentRun.objects.get(pk={run_id}).params")).sizes())
    cookie, snapshots, connected = session.cookie_header(), [], asyncio.Event()
    tasks = [asyncio.create_task(watch(lab.ports[i % len(lab.ports)], cookie, run_id, connected, snapshots,
                                       timeout_s)) for i in range(watchers)]
    deadline = time.monotonic() + timeout_s
    while len(snapshots) + sum(t.done() for t in tasks) < watchers and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    await asyncio.to_thread(session.post, f"/lab/runs/{busy}/cancel/", {})
    results = await asyncio.gather(*tasks, return_exceptions=True)
    received = [r for r in results if isinstance(r, dict)]
    ended = sorted({r.pop("status") for r in received})
    spreads = []
    for seq in range(planned):
        times = [r[seq] for r in received if seq in r]
        if times:
            spreads += [t - min(times) for t in times]
    got = sum(len(r) for r in received)
    errors = [repr(r) for r in results if not isinstance(r, dict)]
    if ended != ["done"]:
        errors.append(f"the run ended {ended} for its watchers")
    short = sorted(planned - len(r) for r in received if len(r) < planned)
    if short:
        missing = sorted({seq for r in received for seq in range(planned) if seq not in r})
        errors.append(f"{len(short)} watchers ended short (rows missed each: {short[:10]}...; rows: {missing})")
    return {"first_error": "; ".join(errors[:3]), "watchers": watchers, "connected": len(snapshots),
            "failed": len(results) - len(received),
            "lost": planned * watchers - got, "deliveries": planned * watchers,
            "p50": percentile(spreads, 50) * 1000 if spreads else float("nan"),
            "p99": percentile(spreads, 99) * 1000 if spreads else float("nan"),
            "max": max(spreads) * 1000 if spreads else float("nan")}


@contextmanager
def busy_site(lab: BenchLab, cookies: list[str]):
    """Learners reloading a lesson step page on the lab while the block runs; yields a list that
    holds, once the block ends, the page latencies served meanwhile."""
    served, errors, stop = [], [], threading.Event()
    start = threading.Barrier(len(cookies) + 1)
    threads = [threading.Thread(target=hammer, args=(lab.ports[i % len(lab.ports)], cookie, STEP, start,
                                                     float("inf"), served, errors, stop))
               for i, cookie in enumerate(cookies)]
    for thread in threads:
        thread.start()
    start.wait()
    try:
        yield served
    finally:
        stop.set()
        for thread in threads:
            thread.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--watchers", default="10,50,200")
    parser.add_argument("--bursts", type=int, default=2, help="bursts per watcher count")
    parser.add_argument("--web", type=int, default=1, help="daphne processes (watchers spread round-robin)")
    parser.add_argument("--timeout-s", type=float, default=120)
    parser.add_argument("--busy", type=int, default=0, help="learners reloading a lesson page during each burst")
    args = parser.parse_args()
    print(f"# {machine()}; {args.web} web process(es); {args.busy} learners reloading a lesson page")
    with BenchLab(args.web, env={"TPLAB_MAX_ACTIVE_RUNS_PER_LEARNER": "100"}) as lab:
        session = lab.learner("watcher")
        readers = [s.cookie_header() for s in lab.learners("reader", args.busy)] if args.busy else []
        print("| watchers | burst | connected | rows lost / deliveries | spread p50 ms | p99 ms | max ms | pages/s |")
        print("|---:|---:|---:|---:|---:|---:|---:|---:|")
        for n in (int(x) for x in args.watchers.split(",")):
            for b in range(1, args.bursts + 1):
                began = time.monotonic()
                with busy_site(lab, readers) if readers else nullcontext([]) as served:
                    r = asyncio.run(burst(lab, session, n, args.timeout_s))
                pages = len(served) / (time.monotonic() - began)
                print(f"| {n} | {b} | {r['connected']} | {r['lost']} / {r['deliveries']} | {r['p50']:.0f} | "
                      f"{r['p99']:.0f} | {r['max']:.0f} | {pages:.0f} |", flush=True)
                if r["first_error"]:
                    print(f"  {r['failed']} watcher(s) failed; {r['first_error']}", flush=True)


if __name__ == "__main__":
    main()
