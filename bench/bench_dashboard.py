"""How fast is the instructor's dashboard for a big class? Target: each view well under a second.

Builds, in a temporary SQLite database, the course (loadlessons), one cohort of N learners (200
by default) who each opened every live step of the course and did what each asks (tests.classroom_helpers.
synthetic_class: first guesses, reveals, ratings, teach-backs, lesson progress), two lab runs
each with their measured rows, and one learner-owned 4-GPU node; then requests every dashboard
view through Django's test client as the cohort's instructor. Printed per view: the median and
slowest of --repeat requests, the median CPU time of this process (the figure to trust on a
busy shared machine: the database is SQLite, in this process), the SQL queries of one request,
the page size, and the median as a share of the one-second target.

    python -m bench.bench_dashboard --learners 200 --repeat 5
"""
import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

TARGET_S = 1.0
VIEWS = [("progress", ""), ("answers", "answers/"), ("misconceptions", "misconceptions/"), ("items", "items/"),
         ("teach-backs", "teachbacks/"), ("labs and clusters", "labs/"), ("answers.csv", "export/answers.csv"),
         ("labs.csv", "export/labs.csv"), ("cohort.json", "export/cohort.json")]


def build(learner_count: int):
    """The database described above; returns (the instructor's logged-in client, the cohort)."""
    import io

    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.test import Client

    from lessons.classroom.models import Cohort, Membership
    from tests.classroom_helpers import lab_run, synthetic_class
    from tests.test_cluster_support import WORKED, node_from, owned_cluster

    call_command("migrate", verbosity=0)
    call_command("loadlessons", stdout=io.StringIO())
    users = get_user_model()
    instructor = users.objects.create_user("bench-teacher", is_staff=True)
    cohort = Cohort.create_for(instructor, name="Bench class")
    learners = [users(username=f"learner{i:03d}") for i in range(learner_count)]
    for learner in learners:
        learner.set_unusable_password()  # no hashing: 200 PBKDF2 rounds would dominate the set-up
    learners = users.objects.bulk_create(learners)
    Membership.objects.bulk_create([Membership(cohort=cohort, learner=learner) for learner in learners])
    synthetic_class(learners)
    node = node_from(owned_cluster(learners[0]), "bench-gpu", *WORKED)
    for index, learner in enumerate(learners):
        lab_run(learner, "all-reduce-tax", "lab-256k", 40.0 + index % 30, node=node)
        lab_run(learner, "the-wire", "lab-pair", 300.0 + index % 50, node=node)
    client = Client()
    client.force_login(instructor)
    return client, cohort


def measure(client, url: str, repeat: int) -> tuple[list[float], list[float], int, int]:
    """(wall seconds, CPU seconds of this process) per timed request, queries, bytes."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    times, cpu = [], []
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    count = len(queries)  # now: the next request's request_started signal empties the log
    assert response.status_code == 200, f"{url}: {response.status_code}"
    for _ in range(repeat):
        begin, begin_cpu = time.perf_counter(), time.process_time()
        client.get(url)
        times.append(time.perf_counter() - begin)
        cpu.append(time.process_time() - begin_cpu)
    return times, cpu, count, len(response.content)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--learners", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5, help="timed requests per view (after one untimed)")
    args = parser.parse_args(argv)
    if args.learners < 2 or args.repeat < 1:
        parser.error("--learners must be at least 2 and --repeat at least 1")

    with tempfile.TemporaryDirectory(prefix="tplab-bench-") as workdir:
        os.environ["DATABASE_URL"] = f"sqlite:///{Path(workdir) / 'bench.sqlite3'}"
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "labapp.settings")
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
        import django
        from django.test.utils import setup_test_environment

        django.setup()
        setup_test_environment(debug=False)  # as deployed; the test client's host, in-memory e-mail
        begin = time.perf_counter()
        client, cohort = build(args.learners)
        from lessons.models import Step

        print(f"built {args.learners} learners × {Step.objects.filter(retired=False).count()} steps "
              f"in {time.perf_counter() - begin:.1f} s (SQLite, {workdir})")
        print(f"{'view':<20} {'median ms':>10} {'max ms':>8} {'CPU ms':>7} {'queries':>8} {'KiB':>7} {'median/1 s':>11}")
        worst = 0.0
        for name, path in VIEWS:
            times, cpu, queries, size = measure(client, f"/teach/{cohort.pk}/{path}", args.repeat)
            median = statistics.median(times)
            worst = max(worst, median)
            print(f"{name:<20} {median * 1e3:>10.0f} {max(times) * 1e3:>8.0f} {statistics.median(cpu) * 1e3:>7.0f} "
                  f"{queries:>8} {size / 1024:>7.0f} {median / TARGET_S:>11.2f}")
        print(f"slowest view's median: {worst:.2f} s = {worst / TARGET_S:.2f} of the {TARGET_S:.0f} s target "
              f"({'met' if worst < TARGET_S else 'NOT met'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
