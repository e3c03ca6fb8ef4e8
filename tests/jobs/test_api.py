"""The REST API, the Python client against a live server, and the CLI, on one job."""

import json
import time

import pytest
from click.testing import CliRunner
from jobhelpers import TASKS_DIR, serve, task

from modelyard.cli.main import cli
from modelyard.exceptions import InvalidParameterValue, ResourceDoesNotExist
from modelyard.jobs.client import JobsClient
from modelyard.settings import Settings

API = "/api/2.0/modelyard/jobs"


@pytest.fixture
def server(tmp_path, env):
    settings = Settings.defaults(backend_store_uri=env.config.tracking_uri, artifacts_destination=str(tmp_path / "a"), serve_artifacts=True)
    with serve(settings) as (url, _services):
        yield url


def test_rest_client_round_trip(env, server, name):
    client = JobsClient(server)
    yaml_text = f"""
name: {name}
schedule: {{cron: "0 3 * * *", timezone: Europe/Berlin}}
tasks:
  - key: build
    run: jobtasks:build
    params: {{days: 90}}
    env: {{PYTHONPATH: {TASKS_DIR}}}
"""
    assert client.deploy(yaml_text)["created"] is True
    assert client.deploy(yaml_text)["created"] is False
    assert [j["name"] for j in client.list()] == [name]
    run = client.run(name, {"days": 2})
    done = env.wait(run["job_run_id"])
    assert done.status == "SUCCEEDED"
    got = client.get_run(run["job_run_id"])
    assert got["tasks"][0]["result"] == {"rows": 20} and got["spec"]["name"] == name
    assert "building 2 days" in client.logs(run["job_run_id"], "build")["text"]
    assert client.runs(name)[0]["status"] == "SUCCEEDED"
    assert client.get(name)["last_run"]["status"] == "SUCCEEDED"
    assert client.pause(name)["paused"] is True
    with pytest.raises(InvalidParameterValue, match="Unknown parameter"):
        client.run(name, {"nope": 1})
    client.delete(name)
    with pytest.raises(ResourceDoesNotExist, match=f"Job '{name}' does not exist"):
        client.get(name)


def test_bad_definitions_answer_400_naming_the_problem(server, name):
    import httpx

    r = httpx.post(server + API + "/deploy", json={"definition": {"name": name, "tasks": [
        {"key": "a", "run": "m:f", "depends_on": ["b"]}, {"key": "b", "run": "m:f", "depends_on": ["a"]}]}})
    assert r.status_code == 400 and r.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    assert "cycle" in r.json()["message"]
    r = httpx.get(server + API + "/runs/get", params={"job_run_id": "nope"})
    assert r.status_code == 404 and "nope" in r.json()["message"]
    spec = httpx.get(server + "/openapi.json").json()
    assert "/api/2.0/modelyard/jobs/deploy" in spec["paths"]


def test_webhook_url_starts_a_job_with_its_secret(env, server, name):
    import httpx

    env.jobs.deploy(env.ctx, {"name": name, "triggers": [{"on": "webhook", "secret": "s3"}], "tasks": [task("a", "jobtasks:noop")]})
    r = httpx.post(server + API + "/webhook", json={"name": name, "secret": "s3", "key": "d1"})
    assert r.status_code == 200 and len(r.json()["job_run_ids"]) == 1
    r = httpx.post(server + API + "/webhook", json={"name": name, "secret": "bad", "key": "d2"})
    assert r.status_code == 403


def test_cli(env, name, tmp_path):
    runner = CliRunner()
    path = tmp_path / "job.yaml"
    path.write_text(json.dumps({"name": name, "tasks": [task("build", "jobtasks:build", params={"days": 90})]}))
    uri = env.config.tracking_uri

    def call(*args):
        result = runner.invoke(cli, ["--tracking-uri", uri, "jobs", *args], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    assert f"Created job '{name}'" in call("deploy", str(path))
    assert f"Updated job '{name}'" in call("deploy", str(path))
    listed = json.loads(call("list", "-o", "json"))
    assert listed[0]["name"] == name
    started = json.loads(call("run", name, "--param", "days=3", "-o", "json"))
    env.wait(started["job_run_id"])
    runs = json.loads(call("runs", name, "-o", "json"))
    assert runs[0]["status"] == "SUCCEEDED" and runs[0]["params"] == {"days": 3}
    assert "building 3 days" in call("logs", started["job_run_id"], "--task", "build", "--follow")
    assert "Paused" in call("pause", name) and "Resumed" in call("resume", name)
    bad = runner.invoke(cli, ["--tracking-uri", uri, "jobs", "run", name, "--param", "weeks=1"])
    assert bad.exit_code == 1 and "Unknown parameter(s) weeks" in bad.output
    assert "Deleted" in call("delete", name)


def test_server_with_scheduler_runs_jobs_by_itself(tmp_path, name):
    uri = f"sqlite:///{tmp_path / 'db.sqlite'}"
    settings = Settings.defaults(backend_store_uri=uri, artifacts_destination=str(tmp_path / "a"), serve_artifacts=True,
                        jobs_scheduler=True, jobs_logs_dir=str(tmp_path / "logs"))
    with serve(settings) as (url, services):
        client = JobsClient(url)
        client.deploy({"name": name, "tasks": [{"key": "a", "run": ["sh", "-c", "echo hi"]}]})
        job_run_id = client.run(name)["job_run_id"]
        deadline = time.monotonic() + 60
        while (status := client.get_run(job_run_id)["status"]) != "SUCCEEDED":
            assert time.monotonic() < deadline and status in ("QUEUED", "RUNNING"), status
            time.sleep(0.1)
        assert client.logs(job_run_id)["text"] == "hi\n"
    assert not services.scheduler.is_alive()  # stopped with the app
