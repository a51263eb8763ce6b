import pytest


@pytest.mark.django_db
def test_it_invites_a_visitor_to_sign_up(client):
    page = client.get("/").content.decode()
    assert 'href="/accounts/signup/"' in page and "Learn tensor parallelism" in page


@pytest.mark.django_db
def test_it_sends_a_learner_to_the_course_lab_and_clusters(client, learner):
    client.force_login(learner)
    page = client.get("/").content.decode()
    for path in ("/lessons/", "/lab/", "/clusters/"):
        assert f'href="{path}"' in page
