"""Can a live class take 200 learners on this machine? One round, end to end over loopback.

Logs in as the instructor, creates a cohort (the /teach/ form), signs up and joins N learners
over HTTP, opens a live round on a single-choice step, connects the instructor's console and
every learner over websockets, then has each learner vote at a random moment within
--spread-s seconds (over their websocket, as htmx's ws-send does). It prints:

- votes_lost: votes sent minus the answer count the console finally shows (goal 0);
- console_complete_ms: from the last vote sent to the console showing all of them (goal <= 1000);
- vote_to_console_p50_ms / p99_ms: for the k-th vote sent, from its sending to the console's
  count first reaching k (the server may count the votes in another order: this is the
  latency of the k-th answer, not of one named learner's).

    python -m bench.bench_class http://127.0.0.1:8000 --instructor-password PW --learners 200

Loopback only (it signs up accounts on the server it is given) and bounded (--learners <= 500).
"""
import argparse
import asyncio
import json
import random
import re
import sys
import time
import urllib.error
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from websockets.asyncio.client import connect

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.livelab import LOOPBACK, Server, percentile  # noqa: E402  (nearest rank, as every benchmark here)
from tests.live import Browserless  # noqa: E402  (the same cookie+CSRF client the live tests use)

MAX_LEARNERS = 500
COUNT = re.compile(r"<strong data-answer-count>(\d+)</strong>")


def _new_cohort(server: Server, password: str) -> tuple[Browserless, int, str, int]:
    teacher = Browserless(server)
    teacher.login("instructor", password)
    response = teacher.post("/teach/", {"name": f"bench {time.strftime('%H:%M:%S')}"})
    cohort_id = int(re.search(r"/teach/(\d+)/", response.geturl()).group(1))
    page = response.read().decode()
    code = re.search(r'class="code-badge"[^>]*>([A-Z0-9]+)<', page).group(1)
    console = teacher.get(f"/teach/live/{cohort_id}/").read().decode()
    single = re.search(r'<option value="(\d+)" >What does each GPU get\?', console) \
        or re.search(r'<option value="(\d+)"[^>]*>[^<]*\(predict\)', console)
    return teacher, cohort_id, code, int(single.group(1))


def _learner(server: Server, code: str, name: str) -> Browserless:
    session = Browserless(server)
    # Random hex alone: a password sharing "bench" with the username was refused at random by
    # Django's similarity validator, and a retry with the same password could never pass.
    password = f"{random.getrandbits(96):024x}"
    why = ""
    for attempt in range(3):  # SQLite may answer "database is locked" while others sign up
        try:
            session.get("/accounts/signup/")
            response = session.post("/accounts/signup/", {"username": name, "password1": password,
                                                          "password2": password})
            if "/accounts/signup/" not in response.geturl():
                break
            why = " ".join(re.findall(r'<ul class="errorlist[^"]*"[^>]*>(.*?)</ul>', response.read().decode(), re.S))
        except urllib.error.HTTPError as error:
            why = f"HTTP {error.code}"
        if session.cookie("sessionid"):
            break
        time.sleep(1 + attempt)
    else:
        raise SystemExit(f"{name} could not sign up ({why or 'no error shown'}): see the server's log")
    session.get(f"/join/{code}/")
    for attempt in range(3):  # SQLite may answer "database is locked" while others sign up
        try:
            session.post(f"/join/{code}/", {})
            return session
        except urllib.error.HTTPError:
            time.sleep(1 + attempt)
    raise SystemExit(f"{name} could not join the cohort: see the server's log")


async def _round(server: Server, teacher: Browserless, cohort_id: int, step_id: int, learners: list,
                 spread_s: float) -> dict:
    ws_url = server.url.replace("http", "ws", 1) + f"/ws/live/{cohort_id}/"

    def headers(session):
        return {"Cookie": session.cookie_header(), "Origin": server.url}

    seen: list[tuple[float, int]] = []  # (when, count) for every tally the console received
    async with connect(ws_url, additional_headers=headers(teacher), open_timeout=30) as console:
        async def watch():
            async for message in console:
                match = COUNT.search(message)
                if match:
                    seen.append((time.monotonic(), int(match.group(1))))

        watcher = asyncio.create_task(watch())
        await asyncio.to_thread(teacher.post, f"/teach/live/{cohort_id}/open/", {"step": step_id})
        sockets = []
        for session in learners:  # one at a time: each connect renders the learner's state
            socket = await connect(ws_url, additional_headers=headers(session), open_timeout=60)
            while 'name="choice"' not in await socket.recv():
                pass
            sockets.append(socket)
        sent: list[float] = []

        async def vote(socket):
            await asyncio.sleep(random.uniform(0, spread_s))
            sent.append(time.monotonic())
            await socket.send(json.dumps({"choice": random.choice(["weights", "layers", "requests"]), "HEADERS": {}}))
            while "Your vote is in" not in await socket.recv():
                pass

        await asyncio.wait_for(asyncio.gather(*(vote(s) for s in sockets)), timeout=spread_s + 120)
        last = max(sent)
        deadline = time.monotonic() + 30
        while (not seen or seen[-1][1] < len(sockets)) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        watcher.cancel()
        for socket in sockets:
            await socket.close()
    return {"sent": sorted(sent), "last": last, "seen": seen}


def _figures(result: dict, learners: int) -> dict:
    seen, sent = result["seen"], result["sent"]
    final = max((count for _, count in seen), default=0)

    def first_at(k):
        return next((when for when, count in seen if count >= k), None)

    latencies = [1000 * (first_at(k + 1) - when) for k, when in enumerate(sent) if first_at(k + 1) is not None]
    complete = first_at(learners)
    return {"votes_lost": learners - final,
            "console_complete_ms": round(1000 * (complete - result["last"])) if complete else -1,
            "vote_to_console_p50_ms": round(percentile(latencies, 50)) if latencies else -1,
            "vote_to_console_p99_ms": round(percentile(latencies, 99)) if latencies else -1}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url", help="the lab, e.g. http://127.0.0.1:8000 (loopback only)")
    parser.add_argument("--instructor-password", required=True, help="the password lab.py run printed")
    parser.add_argument("--learners", type=int, default=200)
    parser.add_argument("--spread-s", type=float, default=10.0, help="learners vote within this many seconds")
    parser.add_argument("--signup-threads", type=int, default=2)
    args = parser.parse_args(argv)
    host = urllib.parse.urlsplit(args.url).hostname
    if host not in LOOPBACK:
        parser.error(f"{host} is not loopback: this bench signs up accounts, so it runs only against 127.0.0.1")
    if not 1 <= args.learners <= MAX_LEARNERS:
        parser.error(f"--learners must be between 1 and {MAX_LEARNERS}")
    server = Server(args.url)
    began = time.monotonic()
    teacher, cohort_id, code, step_id = _new_cohort(server, args.instructor_password)
    prefix = f"bench{int(time.time())}"
    with ThreadPoolExecutor(args.signup_threads) as pool:
        learners = list(pool.map(lambda i: _learner(server, code, f"{prefix}-{i:03d}"), range(args.learners)))
    print(f"cohort {cohort_id} ({code}): {len(learners)} learners signed up and joined in "
          f"{time.monotonic() - began:.0f} s", flush=True)
    result = asyncio.run(_round(server, teacher, cohort_id, step_id, learners, args.spread_s))
    teacher.post(f"/teach/live/{cohort_id}/end/", {})
    figures = _figures(result, args.learners)
    print(" ".join(f"{name}={value}" for name, value in figures.items()))
    return 0 if figures["votes_lost"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
