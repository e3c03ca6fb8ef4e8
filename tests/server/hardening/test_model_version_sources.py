"""Defect class 6: a model version's source must match the run or logged model the request names.

- ``runs:/<run>/…`` with no ``run_id``, or another run's id: refused (it would point a model at a run
  the caller never named).
- a location inside this server's own storage (``mlflow-artifacts:/…``, an experiment's artifact
  location) that is not inside the given run's (or logged model's) artifacts: refused.
- ``models:/m-<id>`` needs that ``model_id``, and a ``run_id`` given with it must be the model's run.
- as MLflow: a ``run_id`` this server does not know is accepted (the tracking server may be another
  one) for a ``runs:/`` source of that run and for a location outside our storage.
On SQLite, PostgreSQL and MariaDB; nothing is created by a refused request.
"""

from __future__ import annotations

import uuid

import pytest

API = "/api/2.0/mlflow"


@pytest.fixture
def world(db_api, hx, unique):
    exp = hx.experiment(db_api, f"src-{unique}")
    mine, other = hx.run(db_api, exp), hx.run(db_api, exp)
    model = f"src-{unique}"
    assert db_api.post(f"{API}/registered-models/create", json={"name": model}).status_code == 200
    lm = db_api.post(f"{API}/logged-models", json={"experiment_id": exp, "name": "lm", "source_run_id": other})
    art = db_api.get(f"{API}/runs/get", params={"run_id": mine}).json()["run"]["info"]["artifact_uri"]
    other_art = db_api.get(f"{API}/runs/get", params={"run_id": other}).json()["run"]["info"]["artifact_uri"]
    return {"exp": exp, "mine": mine, "other": other, "model": model, "lm": lm.json()["model"]["info"],
            "art": art, "other_art": other_art}


def _create(api, world, source, **extra):
    return api.post(f"{API}/model-versions/create", json={"name": world["model"], "source": source, **extra})


def _versions(api, world) -> int:
    r = api.get(f"{API}/model-versions/search", params={"filter": f"name = '{world['model']}'"})
    return len(r.json().get("model_versions", []))


def test_a_runs_source_needs_its_own_run_id(db_api, hx, world):
    source = f"runs:/{world['other']}/model"
    hx.assert_invalid(_create(db_api, world, source), "no run_id")
    hx.assert_invalid(_create(db_api, world, source, run_id=world["mine"]), world["mine"])
    assert _versions(db_api, world) == 0
    ok = _create(db_api, world, source, run_id=world["other"])
    assert ok.status_code == 200, ok.text
    assert ok.json()["model_version"]["run_id"] == world["other"]


def test_a_location_in_our_storage_must_be_inside_the_runs_artifacts(db_api, hx, world):
    theirs = world["other_art"] + "/model"
    hx.assert_invalid(_create(db_api, world, theirs), "artifacts of the run")
    hx.assert_invalid(_create(db_api, world, theirs, run_id=world["mine"]), "artifacts of the run")
    hx.assert_invalid(_create(db_api, world, theirs, run_id="0123456789abcdef0123456789abcdef"), "artifacts of the run")
    hx.assert_invalid(_create(db_api, world, "mlflow-artifacts:/somewhere/else", run_id="unknown-run"), "artifacts")
    assert _versions(db_api, world) == 0
    ok = _create(db_api, world, world["art"] + "/model", run_id=world["mine"])
    assert ok.status_code == 200, ok.text


def test_a_logged_model_source_needs_its_model_id_and_run(db_api, hx, world):
    lm = world["lm"]
    source = f"models:/{lm['model_id']}"
    hx.assert_invalid(_create(db_api, world, source), "no model_id")
    hx.assert_invalid(_create(db_api, world, source, model_id=lm["model_id"], run_id=world["mine"]), world["other"])
    assert _versions(db_api, world) == 0
    ok = _create(db_api, world, source, model_id=lm["model_id"], run_id=world["other"])
    assert ok.status_code == 200, ok.text
    assert ok.json()["model_version"]["model_id"] == lm["model_id"]


def test_a_run_of_another_tracking_server_is_accepted_as_mlflow_does(db_api, world):
    remote = uuid.uuid4().hex
    r = _create(db_api, world, f"runs:/{remote}/model", run_id=remote)
    assert r.status_code == 200, r.text
    mv = r.json()["model_version"]
    assert (mv["run_id"], mv["source"]) == (remote, f"runs:/{remote}/model")
    r = _create(db_api, world, "s3://another-bucket/models/m1", run_id="run_id")  # MLflow's own tests' ids
    assert r.status_code == 200, r.text
    got = db_api.get(f"{API}/model-versions/get", params={"name": world["model"], "version": mv["version"]})
    assert got.json()["model_version"]["run_id"] == remote


def test_local_paths_stay_refused(db_api, hx, world):
    for source in ["/etc", "file:///etc/passwd", "path/to/model"]:
        hx.assert_invalid(_create(db_api, world, source, run_id="run_id"))
        hx.assert_invalid(_create(db_api, world, source, run_id=world["mine"]))
    assert _versions(db_api, world) == 0
