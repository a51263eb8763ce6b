import io
import os
from pathlib import Path

import pytest

from labapp.env import env_bool

DB_FIXTURES = {"db", "transactional_db", "django_db_setup", "django_user_model", "admin_user", "admin_client"}


def pytest_collection_modifyitems(config, items):
    """With TPLAB_DB_TESTS_ONLY=1 (the PostgreSQL pass of `lab.py test`) keep only the tests that
    touch the database; the rest already ran on SQLite."""
    if os.environ.get("TPLAB_DB_TESTS_ONLY") != "1":
        return
    keep, drop = [], []
    for item in items:
        uses_db = item.get_closest_marker("django_db") or DB_FIXTURES & set(getattr(item, "fixturenames", ()))
        (keep if uses_db and not item.get_closest_marker("live") else drop).append(item)
    items[:] = keep
    config.hook.pytest_deselected(items=drop)


CHROMIUM = "/usr/bin/chromium"


def pytest_runtest_setup(item):
    if item.get_closest_marker("hf"):
        from tpworkers.measure.hf_tp_config import missing

        if missing() and os.environ.get("CI"):
            pytest.fail(f"{missing()}; CI is set: the [hf] tests must run under CI (.ci/run sets TPLAB_EXTRAS=hf)")
        if missing():
            pytest.skip(f"[hf] test skipped: {missing()}; under CI this is a failure, not a skip")
    if item.get_closest_marker("browser") and not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing and CI is set: browser tests must run under CI "
                        "(.ci/run installs Debian's chromium)")
        pytest.skip(f"browser test skipped: {CHROMIUM} not found (apt-get install chromium); "
                    "under CI this is a failure, not a skip")


@pytest.fixture(scope="session")
def live_lab(tmp_path_factory):
    """Real Redis, a real lab worker (Celery) and daphne, sharing a SQLite file database."""
    from tests.live import LiveLab

    lab = LiveLab(tmp_path_factory.mktemp("live-lab"))
    try:
        lab.start()
        yield lab
    finally:
        lab.stop()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        )
        yield instance
        instance.close()


@pytest.fixture
def screenshot():
    """``screenshot(page_or_locator, name, **options)`` saves docs/NAME.png, the README's pictures,
    only when TPLAB_SCREENSHOTS=1: a plain test run leaves the tracked images alone."""
    docs = Path(__file__).resolve().parent.parent / "docs"

    def save(target, name: str, **options) -> None:
        if env_bool("TPLAB_SCREENSHOTS", False):
            target.screenshot(path=str(docs / f"{name}.png"), **options)

    return save


@pytest.fixture(scope="session")
def test_redis():
    """A private Redis for this test session; the tests never touch a Redis they did not start."""
    from labapp.redis_server import PrivateRedis, choose_redis

    server = PrivateRedis(choose_redis({}).binary).start()
    yield server
    server.stop()


@pytest.fixture
def lab_redis(test_redis, settings):
    """Point the lab's settings (channel layer, Celery broker) at the private Redis."""
    from channels.layers import channel_layers

    from labapp.celery import app

    settings.REDIS_URL = test_redis.url
    settings.CHANNEL_LAYERS = {"default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [{"address": test_redis.url, "socket_timeout": 15}]},
    }}
    channel_layers.backends.clear()
    # Without REDIS_URL the settings name a transport that refuses to connect; undo it here too.
    previous_broker = app.conf.broker_url, app.conf.broker_transport
    app.conf.broker_url, app.conf.broker_transport = test_redis.url, None
    yield test_redis
    app.conf.broker_url, app.conf.broker_transport = previous_broker
    channel_layers.backends.clear()


@pytest.fixture
def memory_layer(settings):
    from channels.layers import channel_layers

    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


@pytest.fixture
def learner(django_user_model):
    return django_user_model.objects.create_user("ada", password="pw-for-tests-only-1")


@pytest.fixture
def other_learner(django_user_model):
    return django_user_model.objects.create_user("grace", password="pw-for-tests-only-2")


@pytest.fixture
def instructor(django_user_model):
    return django_user_model.objects.create_user("teach", password="pw-for-tests-only-3", is_staff=True)


@pytest.fixture
def course(db):
    """The lessons loaded from lessons/content/, as `manage.py loadlessons` loads them."""
    from django.core.management import call_command

    call_command("loadlessons", stdout=io.StringIO())


@pytest.fixture
def logged_in(client, learner, course):
    client.force_login(learner)
    return client


@pytest.fixture
def lab_node(db):
    """This lab's node, as a worker that just started would have registered it."""
    from django.utils import timezone

    from tpworkers.models import Cluster, Node

    return Node.objects.create(cluster=Cluster.default(), hostname="testnode", queue="node.local.testnode",
                               last_heartbeat_at=timezone.now(), cpu_ranks=4)


@pytest.fixture
def make_run(lab_node):
    from tpworkers.forms import SweepForm
    from tpworkers.models import ExperimentRun

    def make(owner, **overrides):
        form = SweepForm({**SweepForm.defaults(), "max_size": "16K", **overrides})
        assert form.is_valid(), form.errors
        return ExperimentRun.objects.create(owner=owner, node=lab_node, experiment="collective_sweep",
                                            params=form.run_params())

    return make
