"""Numbers no guess can be (issue 13, item 10): inf and 1e999 were a 500 (JSON has no
Infinity); now a 400 that says what to enter, and nothing saved."""
import pytest

from lessons.models import Guess


pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("value", ["inf", "1e999", "-inf", "nan", "Infinity"])
def test_it_refuses_a_guess_that_is_no_finite_number(logged_in, value):  # noqa: F811
    response = logged_in.post("/lessons/all-reduce-tax/bytes/guess/", {"value": value})
    assert response.status_code == 400 and "Enter a number" in response.content.decode()
    assert not Guess.objects.exists()


@pytest.mark.parametrize("path", ["²", "9" * 5000, "0-" * 500])
def test_it_reads_a_decision_path_it_cannot_follow_as_the_start(logged_in, path):  # noqa: F811
    """'²'.isdigit() is true and int('²') fails; int() refuses over 4300 digits: both were a 500."""
    response = logged_in.get("/lessons/tp-or-replicas/tree/", {"path": path})
    assert response.status_code == 200 and "Do the weights, the KV cache" in response.content.decode()
