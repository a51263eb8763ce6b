"""Is a lesson step page as cheap as it should be? 20 concurrent clients (each a logged-in
learner with a keep-alive connection) request a lesson step page, then the login page, in
interleaved rounds of a few seconds each on a running lab (daphne, SQLite; loopback only), so
both see the same machine and neighbours. DEBUG is off, as when a class is served
(``--debug`` measures the loopback default). Printed: requests/s and p50/p99 latency of each page
over all rounds, and the ratios the goal is stated in: step/login throughput (goal >= 0.5) and
step/login p99 (goal <= 2).

    python -m bench.bench_pages --clients 20 --rounds 3 --seconds 5
"""

import argparse
import http.client
import threading
import time

from bench.livelab import STEP, BenchLab, machine, percentile

LOGIN = "/accounts/login/"


def hammer(port: int, cookie: str, path: str, start: threading.Barrier, seconds: float, out: list, errors: list,
           stop: threading.Event | None = None):
    """GET `path` on one keep-alive connection for `seconds` (or until `stop` is set)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    start.wait()
    stop_at = time.monotonic() + seconds
    while time.monotonic() < stop_at and not (stop and stop.is_set()):
        began = time.perf_counter()
        connection.request("GET", path, headers={"Cookie": cookie} if cookie else {})
        response = connection.getresponse()
        response.read()
        (out if response.status == 200 else errors).append(time.perf_counter() - began)
    connection.close()


def round_of(lab: BenchLab, cookies: list[str], path: str, seconds: float) -> tuple[int, list[float], int]:
    latencies, errors = [], []
    start = threading.Barrier(len(cookies))
    threads = [threading.Thread(target=hammer, args=(lab.port, cookie, path, start, seconds, latencies, errors))
               for cookie in cookies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return len(latencies), latencies, len(errors)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--debug", action="store_true",
                        help="serve with DEBUG on, as `lab.py run` does on loopback (a class is served without it)")
    args = parser.parse_args()
    print(f"# {machine()}; DEBUG {'on' if args.debug else 'off'}")
    with BenchLab(env={"DJANGO_DEBUG": "1"} if args.debug else None) as lab:
        sessions = lab.learners("reader", args.clients)
        for session in sessions:
            session.get(STEP)  # the first visit records the position; the benchmark measures the re-reads
        cookies = {STEP: [s.cookie_header() for s in sessions], LOGIN: [""] * args.clients}
        totals = {STEP: [0, [], 0], LOGIN: [0, [], 0]}
        for _ in range(args.rounds):
            for path in (STEP, LOGIN):
                count, latencies, errors = round_of(lab, cookies[path], path, args.seconds)
                totals[path][0] += count
                totals[path][1] += latencies
                totals[path][2] += errors
        seconds = args.rounds * args.seconds
        print("| page | req/s | p50 ms | p99 ms | errors |")
        print("|---|---:|---:|---:|---:|")
        for path, name in ((STEP, "lesson step"), (LOGIN, "login")):
            count, latencies, errors = totals[path]
            print(f"| {name} | {count / seconds:.0f} | {percentile(latencies, 50) * 1000:.0f} | "
                  f"{percentile(latencies, 99) * 1000:.0f} | {errors} |")
        step, login = totals[STEP], totals[LOGIN]
        print(f"\nthroughput step/login: {step[0] / login[0]:.2f} (goal >= 0.5); "
              f"p99 step/login: {percentile(step[1], 99) / percentile(login[1], 99):.2f} (goal <= 2)")


if __name__ == "__main__":
    main()
