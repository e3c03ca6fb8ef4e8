"""The suite's fuzzing: schemathesis generates requests for every operation of /openapi.json, both
valid ones and ones that break the schema (wrong types, missing fields, odd strings), and sends them
in-process (httpx.ASGITransport) to the server on SQLite, PostgreSQL and MariaDB. Whatever arrives,
the answer is never a 5xx, and every error is MLflow's JSON error body without a stack trace.

Bounded: two examples per operation and mode on SQLite, one on each server database (``EXAMPLES``;
about 1,000 requests, some 30 s of CPU in all), generation only (no shrinking, no example
database), derandomized so that a failure reproduces.
"""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

EXAMPLES = {"sqlite": 2, "postgresql": 1, "mysql": 1}
# Operations whose success would change what the rest of the fuzz run can reach (nothing else is skipped).
SKIP = {("DELETE", "/api/2.0/mlflow/experiments/delete")}


def _check(api, case) -> None:
    kwargs = case.as_transport_kwargs(base_url="http://localhost")
    kwargs.pop("cookies", None)
    headers = {k: v for k, v in kwargs.pop("headers", {}).items() if k.lower() not in ("connection", "accept-encoding")}
    if "data" in kwargs and isinstance(kwargs["data"], (bytes, str)):  # a raw body
        kwargs["content"] = kwargs.pop("data")
    response = api.request(kwargs.pop("method"), kwargs.pop("url"), headers=headers, **kwargs)
    where = f"{case.method} {case.formatted_path} {kwargs}"
    assert response.status_code < 500, (where, response.status_code, response.text[:500])
    if response.status_code >= 400:
        assert response.headers.get("content-type", "").startswith("application/json"), (where, response.text[:300])
        body = response.json()
        assert body.get("error_code") and isinstance(body.get("message"), str), (where, body)
        assert "Traceback" not in response.text, where


def test_no_request_the_schema_describes_or_breaks_gets_a_5xx(db_api):
    spec = db_api.get("/openapi.json").json()
    schema = schemathesis.openapi.from_dict(spec)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 100
    checked = 0
    for operation in operations:
        if (operation.method.upper(), operation.path) in SKIP:
            continue
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                strategy = operation.as_strategy(generation_mode=mode)
            except Exception:  # noqa: BLE001 - nothing negative to generate for an operation without input
                continue

            @settings(
                max_examples=EXAMPLES[db_api.backend], deadline=None, database=None, derandomize=True,
                phases=[Phase.generate], suppress_health_check=list(HealthCheck),
            )
            @given(case=strategy)
            def fuzz(case) -> None:
                _check(db_api, case)

            try:
                fuzz()
            except Unsatisfiable:  # no way to break the schema of an operation that takes no input
                assert mode is GenerationMode.NEGATIVE, operation.path
                continue
            checked += 1
    assert checked >= len(operations) - len(SKIP)
