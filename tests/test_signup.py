import pytest
from django.contrib.auth import get_user_model


@pytest.mark.django_db
def test_it_creates_an_account_and_logs_the_learner_in(client):
    response = client.post("/accounts/signup/", {"username": "lin", "password1": "tensor-parallel-42",
                                                 "password2": "tensor-parallel-42"})
    assert response.status_code == 302 and response["Location"] == "/lessons/"  # a new learner starts with the course
    user = get_user_model().objects.get(username="lin")
    assert not user.is_staff
    assert client.get("/lessons/").status_code == 200


@pytest.mark.django_db
def test_it_explains_a_refused_password(client):
    response = client.post("/accounts/signup/", {"username": "lin", "password1": "123", "password2": "123"})
    assert response.status_code == 200
    assert "too short" in response.content.decode()
    assert not get_user_model().objects.exists()
