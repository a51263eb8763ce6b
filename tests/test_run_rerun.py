import pytest

from tpworkers.models import ExperimentRun


@pytest.mark.django_db
def test_it_runs_again_with_the_same_parameters_on_the_same_node(client, learner, make_run, django_capture_on_commit_callbacks):
    first = make_run(learner, max_size="64K", iters="3")
    first.finish("done")
    client.force_login(learner)
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(f"/lab/runs/{first.pk}/rerun/")
    again = ExperimentRun.objects.exclude(pk=first.pk).get()
    assert response["Location"] == f"/lab/runs/{again.pk}/"
    assert again.params == first.params and again.node == first.node and again.status == "queued"
    assert len(callbacks) == 1


@pytest.mark.django_db
def test_it_gives_an_instructors_rerun_to_the_instructor(client, learner, instructor, make_run):
    first = make_run(learner)
    first.finish("done")
    client.force_login(instructor)
    client.post(f"/lab/runs/{first.pk}/rerun/")
    assert ExperimentRun.objects.exclude(pk=first.pk).get().owner == instructor


@pytest.mark.django_db
def test_it_does_not_let_a_stranger_rerun_someone_elses_run(client, learner, other_learner, make_run):
    first = make_run(learner)
    first.finish("done")
    client.force_login(other_learner)
    assert client.post(f"/lab/runs/{first.pk}/rerun/").status_code == 404
    assert ExperimentRun.objects.count() == 1


@pytest.mark.django_db
def test_it_runs_again_from_the_status_block_the_socket_sent(learner, make_run, memory_layer,
                                                            django_capture_on_commit_callbacks):
    """After watching a run finish live, the "Run again" form came from the socket without a
    token: htmx posts it with the page's header token and the browser goes to the new run."""
    import re

    from django.test import Client

    from tpworkers.consumers import _status_now

    first = make_run(learner, max_size="64K", iters="3")
    client = Client(enforce_csrf_checks=True)
    client.force_login(learner)
    token = re.search(r'"X-CSRFToken": "([^"]+)"', client.get(f"/lab/runs/{first.pk}/").content.decode()).group(1)
    first.finish("done")
    fragment = _status_now(first.pk).html
    assert f'hx-post="/lab/runs/{first.pk}/rerun/"' in fragment and "csrfmiddlewaretoken" not in fragment

    with django_capture_on_commit_callbacks():
        response = client.post(f"/lab/runs/{first.pk}/rerun/", HTTP_HX_REQUEST="true", HTTP_X_CSRFTOKEN=token)

    again = ExperimentRun.objects.exclude(pk=first.pk).get()
    assert response.status_code == 200 and response["HX-Redirect"] == f"/lab/runs/{again.pk}/"
