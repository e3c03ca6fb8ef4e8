# MlflowClient-style tracking; only the import line differs from an MLflow script.
import time

import modelyard as mlflow
from modelyard.entities import Metric, Param, RunTag, ViewType

client = mlflow.MlflowClient()
exp_id = client.create_experiment("client-api", tags={"owner": "ml-team"})
for i in range(3):
    run = client.create_run(exp_id, run_name=f"run-{i}", tags={"i": str(i)})
    rid = run.info.run_id
    client.log_param(rid, "x", i)
    now = int(time.time() * 1000)
    client.log_batch(
        rid,
        metrics=[Metric("score", i * 0.5 + s, now + s, s) for s in range(3)],
        params=[Param("batch", "yes")],
        tags=[RunTag("kind", "client")],
    )
    client.set_terminated(rid)
runs = client.search_runs([exp_id], "params.x != '0'", ViewType.ALL, max_results=10, order_by=["metrics.score DESC"])
assert [r.data.params["x"] for r in runs] == ["2", "1"], [r.data.params for r in runs]
history = client.get_metric_history(runs[0].info.run_id, "score")
assert [m.step for m in history] == [0, 1, 2]
client.delete_run(runs[1].info.run_id)
assert len(client.search_runs([exp_id])) == 2
assert len(client.search_runs([exp_id], run_view_type=ViewType.DELETED_ONLY)) == 1
exp = client.get_experiment_by_name("client-api")
assert exp.tags == {"owner": "ml-team"}
print("ok")
