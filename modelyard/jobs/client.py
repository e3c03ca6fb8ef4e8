"""The Python client of workflows: the same calls against a tracking server (REST) or straight
against a database (an embedded ``JobService``). Answers are the REST API's JSON shapes.

    from modelyard.jobs.client import JobsClient
    jobs = JobsClient("http://127.0.0.1:5000")
    jobs.deploy(open("jobs/churn-refresh.yaml").read())
    run = jobs.run("churn-refresh", {"days": 30})
"""

from __future__ import annotations

from typing import Any

from modelyard.auth.context import local_context
from modelyard.exceptions import error_for_code
from modelyard.settings import Settings, login_name

API = "/api/2.0/modelyard/jobs"


class JobsClient:
    def __init__(self, tracking_uri: str, settings: Settings | None = None) -> None:
        self.uri = tracking_uri
        self.settings = settings or Settings.defaults()
        self._http = None
        self._service = None
        if tracking_uri.startswith(("http://", "https://")):
            import httpx

            self._http = httpx.Client(base_url=tracking_uri.rstrip("/"), timeout=self.settings.client.http_request_timeout)
        else:
            from modelyard.jobs.service import JobService
            from modelyard.store.sql.engine import create_db_engine

            self._service = JobService.from_engine(create_db_engine(tracking_uri, self.settings))
            self._ctx = local_context(self.settings, login_name())

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
        if self._service is not None:
            self._service.close()

    def _call(self, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        assert self._http is not None
        if method == "GET":
            params = {k: v for k, v in body.items() if v is not None}
            response = self._http.get(API + path, params=params)
        else:
            response = self._http.post(API + path, json=body)
        data = response.json() if response.content else {}
        if response.status_code >= 400:
            raise error_for_code(data.get("error_code", "INTERNAL_ERROR"), data.get("message", response.text))
        return data

    def deploy(self, definition: dict[str, Any] | str) -> dict[str, Any]:
        if self._service:
            job, created = self._service.deploy(self._ctx, definition)
            return {"job": job.to_dict(), "created": created}
        return self._call("POST", "/deploy", {"definition": definition})

    def list(self) -> list[dict[str, Any]]:
        if self._service:
            return [j.to_dict() for j in self._service.list_jobs(self._ctx)]
        return self._call("GET", "/list", {})["jobs"]

    def get(self, name: str) -> dict[str, Any]:
        if self._service:
            return self._service.get_job(self._ctx, name).to_dict()
        return self._call("GET", "/get", {"name": name})["job"]

    def run(self, name: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        if self._service:
            return self._service.run_now(self._ctx, name, params or {}).to_dict()
        return self._call("POST", "/run", {"name": name, "params": params or {}})["run"]

    def runs(self, name: str | None = None, max_results: int = 25) -> list[dict[str, Any]]:
        if self._service:
            return [r.to_dict() for r in self._service.list_runs(self._ctx, name, max_results)]
        return self._call("GET", "/runs/list", {"name": name, "max_results": max_results})["runs"]

    def get_run(self, job_run_id: str) -> dict[str, Any]:
        if self._service:
            return self._service.get_run(self._ctx, job_run_id).to_dict(with_spec=True)
        return self._call("GET", "/runs/get", {"job_run_id": job_run_id})["run"]

    def cancel(self, job_run_id: str) -> dict[str, Any]:
        if self._service:
            return self._service.cancel_run(self._ctx, job_run_id).to_dict()
        return self._call("POST", "/runs/cancel", {"job_run_id": job_run_id})["run"]

    def logs(self, job_run_id: str, task: str | None = None, attempt: int | None = None, after: int = -1) -> dict[str, Any]:
        if self._service:
            return self._service.logs(self._ctx, job_run_id, task, attempt, after)
        return self._call("GET", "/runs/logs", {"job_run_id": job_run_id, "task": task, "attempt": attempt, "after": after})

    def pause(self, name: str) -> dict[str, Any]:
        if self._service:
            return self._service.pause(self._ctx, name).to_dict()
        return self._call("POST", "/pause", {"name": name})["job"]

    def resume(self, name: str) -> dict[str, Any]:
        if self._service:
            return self._service.resume(self._ctx, name).to_dict()
        return self._call("POST", "/resume", {"name": name})["job"]

    def delete(self, name: str) -> None:
        if self._service:
            self._service.delete_job(self._ctx, name)
        else:
            self._call("POST", "/delete", {"name": name})

    def publish_event(self, kind: str, key: str, payload: dict[str, Any] | None = None) -> list[str]:
        if self._service:
            return self._service.publish_event(self._ctx, kind, key, payload)
        return self._call("POST", "/events/publish", {"kind": kind, "key": key, "payload": payload or {}})["job_run_ids"]
