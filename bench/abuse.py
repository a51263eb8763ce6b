"""Replay issue 13's attacks against a running lab on this machine; print attack | result | time.

    python3 lab.py run                       # in another terminal
    .venv/bin/python -m bench.abuse --url http://127.0.0.1:8000/

Loopback only (the URL must name 127.0.0.1, ::1 or localhost), bounded: one pass, about twenty
requests, none larger than 1.2 MB, each with a 30 s timeout. It signs up a throwaway learner
(bench-abuse-XXXX), adds clusters under it, and tries one wrong password six times for a user
that does not exist (the lockout falls on that name only). A line says "ok" when the lab
refused or contained the attack, "FAILED" with what it answered otherwise; the exit status is
the number of failures.
"""

import argparse
import http.cookiejar
import ipaddress
import json
import re
import secrets
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

TIMEOUT_S = 30


class Lab:
    """A browser-like session: cookies, the CSRF token, no redirects followed."""

    def __init__(self, base: str):
        self.base = base.rstrip("/")
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect())

    def request(self, path: str, data: dict | None = None, headers: dict | None = None) -> tuple[int, dict, str]:
        body = urllib.parse.urlencode(data, doseq=True).encode() if data is not None else None
        request = urllib.request.Request(self.base + path, data=body, headers=headers or {})
        if data is not None:
            request.add_header("X-CSRFToken", self.cookie("csrftoken"))
            request.add_header("Referer", self.base + path)
        try:
            with self.opener.open(request, timeout=TIMEOUT_S) as response:
                return response.status, dict(response.headers), response.read().decode(errors="replace")
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read().decode(errors="replace")

    def cookie(self, name: str) -> str:
        return next((c.value for c in self.jar if c.name == name), "")

    def location_id(self, headers: dict) -> int | None:
        found = re.search(r"/(\d+)/", headers.get("Location", ""))
        return int(found.group(1)) if found else None


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def nvlink_s(gpus: int, links: int = 0, speed: str = "26.562") -> str:
    lines = []
    for g in range(gpus):
        lines.append(f"GPU {g}: NVIDIA H100 (UUID: GPU-{g:08x}-0000-0000-0000-000000000000)")
        lines += [f"\t Link {k}: {speed} GB/s" for k in range(links)]
    return "\n".join(lines)


ALIAS_BOMB = "\n".join(["a: &a [" + ",".join(['"llama"'] * 9) + "]"]
                       + [f"{n}: &{n} [" + ",".join([f"*{p}"] * 9) + "]" for p, n in zip("abc", "bcd")]
                       + ["model: [" + ",".join(["*d"] * 9) + "]"])


def attacks(lab: Lab, who: str):
    """(name, function returning (ok, what happened)) in the order the issue lists them."""
    state = {}

    def cluster(name: str) -> int:
        lab.request("/clusters/")
        status, headers, _ = lab.request("/clusters/", {"name": name})
        return lab.location_id(headers)

    def paste_topology(text: str, cluster_id: int, hostname: str = "n1"):
        return lab.request(f"/clusters/{cluster_id}/topology/", {"hostname": hostname, "text": text})

    def gpus_400():
        state["cluster"] = cluster("abuse")
        status, _, body = paste_topology(nvlink_s(400), state["cluster"])
        start = time.perf_counter()
        page_status, _, page = lab.request(f"/clusters/{state['cluster']}/")
        took = time.perf_counter() - start
        return status == 400 and "at most 16 GPUs" in body and took < 2, \
            f"paste {status}; page {page_status} {len(page) / 1e3:.0f} KB in {took:.2f} s"

    def node_for_deployments() -> int:
        if "node" not in state:
            paste_topology(nvlink_s(4, links=4), state["cluster"], "dep-node")
            _, _, page = lab.request(f"/clusters/{state['cluster']}/")
            state["node"] = int(re.search(r"/clusters/nodes/(\d+)/deployments/paste/", page).group(1))
        return state["node"]

    def paste_deployments(text: str):
        return lab.request(f"/clusters/nodes/{node_for_deployments()}/deployments/paste/", {"text": text})

    def huge_pp():
        status, _, body = paste_deployments("vllm serve meta-llama/Llama-3.1-8B -tp 2 --pipeline-parallel-size 10000000")
        return status == 400 and "at most 1024" in body, f"{status}"

    def yaml_bomb():
        status, _, body = paste_deployments(ALIAS_BOMB)
        return status == 400 and "aliases" in body and len(body) < 1e6, f"{status}, {len(body) / 1e3:.0f} KB answer"

    def long_launch_line():
        status, _, body = paste_deployments("vllm serve m --x " + "a" * 1_200_000)
        return status == 400 and len(body) < 1e5, f"{status}, {len(body) / 1e3:.0f} KB answer"

    def long_topo_header():
        status, _, body = paste_topology("\tGPU0\t" + "\t".join(["CPU"] * 300_000), state["cluster"])
        return status == 400 and len(body) < 1e5, f"{status}, {len(body) / 1e3:.0f} KB answer"

    def login_throttle():
        anonymous, codes = Lab(lab.base), []
        anonymous.request("/accounts/login/")
        for _ in range(6):
            codes.append(anonymous.request("/accounts/login/", {"username": f"{who}-nobody", "password": "x"})[0])
        return 429 in codes, " ".join(map(str, codes))

    def debug_page():
        status, _, body = Lab(lab.base).request("/no-such-page-" + secrets.token_hex(4))
        leaked = [word for word in ("URLconf", "REDIS_URL", "DATABASES", "Traceback") if word in body]
        if leaked:  # DEBUG is allowed on a lab served on loopback only; --host 0.0.0.0 turns it off
            return status == 404, f"{status}: DEBUG page (lab on loopback; start it with --host 0.0.0.0 to check)"
        return status == 404, f"{status}, no settings shown"

    def layer_memory():
        lab.request("/lab/")
        status, headers, body = lab.request("/lab/runs/", {
            "experiment": "tp_layer", "kinds": ["mlp"], "tp_sizes": ["1", "2", "4"], "hidden": "8192",
            "ffn": "32768", "heads": "64", "kv_heads": "8", "seq": "1", "dtype": "float32", "warmup": "0",
            "iters": "1"})
        run_id = lab.location_id(headers) if "/lab/runs/" in headers.get("Location", "") else None
        if run_id:  # a GPU node takes it (16 GB a GPU): cancel at once
            lab.request(f"/lab/runs/{run_id}/cancel/", {})
            return True, f"queued as run {run_id} (GPU node, within its budget), cancelled"
        _, _, page = lab.request(headers.get("Location", "/lab/").replace(lab.base, "")) if status == 302 else (0, {}, body)
        return "GB of memory" in page or "cannot run" in page, f"{status}, refused before queueing"

    def websocket_origin():
        try:
            from websockets.sync.client import connect
        except ImportError:
            return True, "skipped: pip install websockets"
        lab.request("/lab/")
        _, headers, _ = lab.request("/lab/runs/", {"op": "all_reduce", "min_size": "1K", "max_size": "1K",
                                                   "factor": "4", "dtype": "float32", "nproc": "2", "warmup": "0",
                                                   "iters": "1"})
        run_id = lab.location_id(headers)
        if run_id is None:
            return False, "could not create a 1 KiB run to listen to"
        host = urllib.parse.urlsplit(lab.base)
        cookie = {"Cookie": f"sessionid={lab.cookie('sessionid')}"}

        def reads(origin: str) -> bool:
            try:
                with connect(f"ws://{host.netloc}/ws/runs/{run_id}/", origin=origin, additional_headers=cookie,
                             open_timeout=5) as ws:
                    return bool(ws.recv(timeout=5))
            except Exception:  # refused: closed at the handshake or right after
                return False

        own, other = reads(f"http://{host.netloc}"), reads(f"http://{host.hostname}:9")
        return own and not other, f"run {run_id}: same origin {'reads' if own else 'REFUSED'}, " \
                                  f"port 9 {'READS' if other else 'refused'}"

    def infinite_guess():
        lab.request("/lessons/all-reduce-tax/bytes/")
        status, _, _ = lab.request("/lessons/all-reduce-tax/bytes/guess/", {"value": "1e999"})
        return status == 400, f"{status}"

    def huge_link_speed():
        status, _, body = paste_topology(nvlink_s(1, links=1, speed="1" + "0" * 400), state["cluster"], "speedy")
        return status == 400, f"{status}"

    def queue_collision():
        first, second = cluster("q.a"), cluster("q")
        codes = [paste_topology(nvlink_s(2), first, "b")[0], paste_topology(nvlink_s(2), second, "a.b")[0]]
        return codes == [302, 302], " ".join(map(str, codes))

    def csp_and_healthz():
        _, headers, _ = Lab(lab.base).request("/")
        _, _, health = Lab(lab.base).request("/healthz")
        policy = headers.get("Content-Security-Policy", "")
        ok = "script-src 'self'" in policy and set(json.loads(health)) == {"ok"}
        return ok, f"CSP {'set' if policy else 'missing'}; anonymous /healthz keys {sorted(json.loads(health))}"

    def cluster_name_squat():
        status, headers, body = lab.request("/clusters/", {"name": "local"})
        return status == 302 and "already exists" not in body, f"{status}: named under {who}/"

    return [
        ("1 nvlink -s listing 400 GPUs", gpus_400),
        ("2 --pipeline-parallel-size 10000000", huge_pp),
        ("3 YAML alias bomb", yaml_bomb),
        ("4 1.2 MB launch line", long_launch_line),
        ("4 1.2 MB topo -m header", long_topo_header),
        ("5 six wrong passwords", login_throttle),
        ("6 debug page to a stranger", debug_page),
        ("8 layer over the memory budget", layer_memory),
        ("9 websocket from another port", websocket_origin),
        ("10 guess of 1e999", infinite_guess),
        ("10 link speed over 1.8e308", huge_link_speed),
        ("10 pasted queue name collision", queue_collision),
        ("11 CSP, anonymous /healthz", csp_and_healthz),
        ("12 squat a shared cluster name", cluster_name_squat),
    ]


def check_loopback(url: str) -> None:
    host = urllib.parse.urlsplit(url).hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise SystemExit(f"{url}: abuse.py attacks a lab on this machine only (127.0.0.1, ::1 or localhost)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000/")
    options = parser.parse_args(argv)
    check_loopback(options.url)
    lab, who = Lab(options.url), f"bench-abuse-{secrets.token_hex(3)}"
    password = secrets.token_urlsafe(16)
    lab.request("/accounts/signup/")
    status, _, _ = lab.request("/accounts/signup/", {"username": who, "password1": password, "password2": password})
    if status != 302:
        raise SystemExit(f"could not sign up {who} at {options.url} (HTTP {status})")
    failures = 0
    print(f"{'attack':<36} | {'result':<70} | time")
    for name, attack in attacks(lab, who):
        start = time.perf_counter()
        try:
            ok, what = attack()
        except Exception as exc:  # an attack that breaks the bench is reported, not hidden
            ok, what = False, f"{type(exc).__name__}: {exc}"
        failures += not ok
        print(f"{name:<36} | {('ok: ' if ok else 'FAILED: ') + what:<70} | {time.perf_counter() - start:.2f} s",
              flush=True)
    return failures


if __name__ == "__main__":
    sys.exit(main())
