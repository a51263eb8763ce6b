import io
import re

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.test import RequestFactory


@pytest.mark.django_db
def test_it_creates_the_instructor_once_and_prints_the_password_once():
    first, second = io.StringIO(), io.StringIO()
    call_command("ensure_instructor", stdout=first)
    call_command("ensure_instructor", stdout=second)
    password = re.search(r"password '([^']+)'", first.getvalue()).group(1)
    # django-axes throttles by the request's address: authenticate() needs one
    user = authenticate(RequestFactory().post("/accounts/login/"), username="instructor", password=password)
    assert user is not None and user.is_staff and user.is_superuser
    assert second.getvalue() == ""  # an existing account is left alone and its password never shown again
    other = io.StringIO()
    call_command("ensure_instructor", stdout=other)
    assert password not in other.getvalue()
