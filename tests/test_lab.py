import pytest


@pytest.mark.django_db
def test_it_asks_anonymous_visitors_to_log_in(client):
    response = client.get("/lab/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.django_db
def test_it_shows_the_run_button_and_only_my_runs(client, learner, other_learner, make_run):
    mine = make_run(learner)
    theirs = make_run(other_learner)
    client.force_login(learner)
    page = client.get("/lab/").content.decode()
    assert "Run all-reduce on this machine" in page
    assert f'href="/lab/runs/{mine.pk}/"' in page
    assert f'href="/lab/runs/{theirs.pk}/"' not in page
