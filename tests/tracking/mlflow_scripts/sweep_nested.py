# A typical MLflow hyper-parameter sweep; only the import line differs from an MLflow script.
import modelyard as mlflow

mlflow.set_experiment("sweep")
with mlflow.start_run(run_name="sweep-parent") as parent:
    mlflow.log_param("optimizer", "sgd")
    for lr in (0.001, 0.01, 0.1):
        with mlflow.start_run(run_name=f"lr={lr}", nested=True):
            mlflow.log_params({"lr": lr, "epochs": 5})
            loss = 1.0
            for epoch in range(5):
                loss = loss * (1 - lr * 5)
                mlflow.log_metrics({"loss": loss, "lr_effective": lr}, step=epoch)
            mlflow.set_tags({"stage": "sweep", "lr_bucket": "high" if lr > 0.01 else "low"})
    best = mlflow.search_runs(
        filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'",
        order_by=["metrics.loss ASC"],
        max_results=1,
    )
    mlflow.set_tag("best_run", best.iloc[0]["run_id"])
    mlflow.log_metric("best_loss", float(best.iloc[0]["metrics.loss"]))
print("best", best.iloc[0]["params.lr"])
