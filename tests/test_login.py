"""Logging in (issue 13, item 5): wrong passwords are throttled by django-axes, the admin's login
included; sign-up asks for 12 characters at least (ASVS level 1)."""
import pytest

from tests.test_cluster_support import fast_password_hashing  # noqa: F401 (autouse)

pytestmark = pytest.mark.django_db


def log_in(client, password, url="/accounts/login/", username="lin"):
    return client.post(url, {"username": username, "password": password})


@pytest.fixture
def lin(django_user_model):
    return django_user_model.objects.create_user("lin", password="the-right-password-1", is_staff=True)


def test_it_logs_in_with_the_right_password(client, lin):
    assert log_in(client, "the-right-password-1").status_code == 302


def test_it_locks_a_username_out_after_five_wrong_passwords(client, lin):
    for _ in range(4):
        assert log_in(client, "guess").status_code == 200  # the form again, "wrong password"
    assert log_in(client, "guess").status_code == 429  # the fifth
    response = log_in(client, "the-right-password-1")
    assert response.status_code == 429 and "paused for 15 minutes" in response.content.decode().replace("\xa0", " ")
    assert "_auth_user_id" not in client.session


def test_it_says_how_long_the_lockout_lasts_as_configured(client, lin, settings):
    from datetime import timedelta

    settings.AXES_COOLOFF_TIME = timedelta(hours=1)
    for _ in range(5):
        log_in(client, "guess")
    page = log_in(client, "the-right-password-1").content.decode().replace("\xa0", " ")
    assert "paused for 1 hour after" in page


def test_it_locks_the_admin_login_too(client, lin):
    for _ in range(5):
        log_in(client, "guess", url="/admin/login/")
    assert log_in(client, "the-right-password-1", url="/admin/login/").status_code == 429


def test_it_does_not_lock_another_username(client, lin, django_user_model):
    django_user_model.objects.create_user("ana", password="another-password-2")
    for _ in range(5):
        log_in(client, "guess")
    assert log_in(client, "another-password-2", username="ana").status_code == 302


def test_it_asks_for_twelve_characters_at_signup(client):
    response = client.post("/accounts/signup/", {"username": "new", "password1": "eleven-char",
                                                 "password2": "eleven-char"})
    assert response.status_code == 200 and "at least 12 characters" in response.content.decode()
