import csv
import io

import pytest

ROW = {"op": "all_reduce", "size_bytes": 1024, "count": 256, "dtype": "float32", "nranks": 2, "time_us": 512.5,
       "algbw_GBps": 0.002, "busbw_GBps": 0.002, "min_us": 400.0, "median_us": 500.0, "p99_us": 700.0, "wrong": 0}


@pytest.mark.django_db
def test_it_downloads_every_measured_row_as_csv(client, learner, make_run):
    run = make_run(learner)
    run.record(0, ROW)
    run.record(1, {**ROW, "size_bytes": 4096, "count": 1024, "time_us": 600.0})
    client.force_login(learner)
    response = client.get(f"/lab/runs/{run.pk}/download.csv")
    assert response["Content-Disposition"] == f'attachment; filename="tplab-run-{run.pk}-collective_sweep.csv"'
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [r["size_bytes"] for r in rows] == ["1024", "4096"]
    assert rows[1]["time_us"] == "600.0"


@pytest.mark.django_db
def test_it_downloads_the_run_as_json_labelled_measured(client, learner, make_run):
    run = make_run(learner)
    run.record(0, ROW)
    client.force_login(learner)
    body = client.get(f"/lab/runs/{run.pk}/download.json").json()
    assert body["source"] == "measured"
    assert (body["params"]["min_bytes"], body["params"]["max_bytes"], body["params"]["factor"]) == (1024, 16384, 4)
    assert body["measurements"] == [ROW]


@pytest.mark.django_db
def test_it_keeps_downloads_private(client, learner, other_learner, make_run):
    run = make_run(learner)
    client.force_login(other_learner)
    assert client.get(f"/lab/runs/{run.pk}/download.json").status_code == 404
