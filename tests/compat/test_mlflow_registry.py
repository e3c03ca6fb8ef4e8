"""The real mlflow 3 client (``mlflow==3.17.2``) driving our model registry: register_model from
``models:/m-<id>`` and ``runs:/`` sources, aliases, stages, tags, descriptions, searches with
filters and pages, rename, delete, and loading ``models:/`` URIs that predict what the model does.
"""

from __future__ import annotations


def test_register_promote_and_load_with_mlflow(mlflow3, compat_server, unique):
    got = mlflow3.run(
        f"""
        import warnings
        import numpy as np
        from sklearn.linear_model import LogisticRegression

        warnings.simplefilter("ignore", FutureWarning)  # stages are deprecated in MLflow
        name = {unique!r}
        mlflow.set_experiment(name)
        rng = np.random.default_rng(0)
        X = rng.random((40, 3))
        y = (X[:, 0] + X[:, 1] > 1).astype(int)
        model = LogisticRegression().fit(X, y)
        with mlflow.start_run() as run:
            info = mlflow.sklearn.log_model(model, name="model", input_example=X[:2])
        client = MlflowClient()
        v1 = mlflow.register_model(info.model_uri, name)
        v2 = mlflow.register_model(f"runs:/{{run.info.run_id}}/model", name)
        v3 = client.create_model_version(name, f"runs:/{{run.info.run_id}}/model", run_id=run.info.run_id)
        client.set_registered_model_alias(name, "champion", v1.version)
        client.transition_model_version_stage(name, v2.version, "staging")
        client.transition_model_version_stage(name, v3.version, "Production")
        client.transition_model_version_stage(name, v2.version, "Production", archive_existing_versions=True)
        client.set_registered_model_tag(name, "team", "growth")
        client.set_model_version_tag(name, v1.version, "validated", "yes")
        client.update_registered_model(name, description="predicts churn")
        client.update_model_version(name, v1.version, description="first")
        rm = client.get_registered_model(name)
        expected = model.predict(X[:5]).tolist()
        loaded = {{
            uri: mlflow.pyfunc.load_model(uri).predict(X[:5]).tolist()
            for uri in (f"models:/{{name}}@champion", f"models:/{{name}}/Production", f"models:/{{name}}/1")
        }}
        emit({{
            "versions": [v1.version, v2.version, v3.version],
            "sources": [v1.source, v2.source, v3.source],
            "model_ids": [v1.model_id, v2.model_id, v3.model_id],
            "logged_model_id": info.model_id,
            "run_id": run.info.run_id,
            "by_alias": client.get_model_version_by_alias(name, "champion").version,
            "stages": [client.get_model_version(name, v).current_stage for v in ("1", "2", "3")],
            "latest_production": [v.version for v in client.get_latest_versions(name, ["Production"])],
            "rm": [rm.name, rm.description, rm.tags, rm.aliases, sorted((v.current_stage, v.version) for v in rm.latest_versions)],
            "v1": [client.get_model_version(name, "1").tags, client.get_model_version(name, "1").description,
                   list(client.get_model_version(name, "1").aliases)],
            "download_uri": client.get_model_version_download_uri(name, "1"),
            "logged_model_links": client.get_logged_model(info.model_id).tags.get("mlflow.modelVersions"),
            "expected": expected,
            "loaded": loaded,
        }})
        """
    )
    assert got["versions"] == ["1", "2", "3"]
    model_id, run_id = got["logged_model_id"], got["run_id"]
    assert got["sources"] == [f"models:/{model_id}", f"models:/{model_id}", f"runs:/{run_id}/model"]
    assert got["model_ids"] == [None, None, None]  # MLflow's client does not read model_id back...
    stored = [compat_server.services.registry.store.get_model_version(unique, v).model_id for v in ("1", "2", "3")]
    assert stored == [model_id, model_id, model_id]  # ...but the server resolved every lineage
    assert got["by_alias"] == "1"
    assert got["stages"] == ["None", "Production", "Archived"]
    assert got["latest_production"] == ["2"]
    name = unique
    assert got["rm"] == [name, "predicts churn", {"team": "growth"}, {"champion": "1"}, [["Archived", "3"], ["None", "1"], ["Production", "2"]]]
    assert got["v1"] == [{"validated": "yes"}, "first", ["champion"]]
    assert got["download_uri"].startswith("mlflow-artifacts:/") and got["download_uri"].endswith(f"/models/{model_id}/artifacts")
    assert got["logged_model_links"] == f'[{{"name": "{name}", "version": "1"}}, {{"name": "{name}", "version": "2"}}]'
    for uri, predictions in got["loaded"].items():
        assert predictions == got["expected"], uri
    # The server recorded who moved what.
    history = compat_server.services.registry.store.get_promotion_history(name)
    assert [(e.kind, e.target, e.action) for e in history][:2] == [
        ("stage", "Production", "transitioned"),
        ("stage", "Archived", "archived"),
    ]


def test_search_page_rename_delete_and_errors_with_mlflow(mlflow3, unique):
    got = mlflow3.run(
        f"""
        prefix = {unique!r}
        mlflow.set_experiment(prefix)
        with mlflow.start_run() as run:
            mlflow.log_param("p", 1)
        client = MlflowClient()
        source = run.info.artifact_uri + "/model"          # MLflow 2 style: a path inside the run
        for suffix, team in (("a", "core"), ("b", "growth"), ("c", "core")):
            client.create_registered_model(f"{{prefix}}-{{suffix}}", tags={{"team": team}})
            for _ in range(3):
                client.create_model_version(f"{{prefix}}-{{suffix}}", source, run_id=run.info.run_id, tags={{"s": suffix}})
        pages, token = [], None
        while True:
            page = client.search_registered_models(f"name LIKE '{{prefix}}-%'", max_results=2, page_token=token)
            pages.append([m.name for m in page])
            token = page.token
            if not token:
                break
        core = [m.name for m in client.search_registered_models(f"name LIKE '{{prefix}}%' AND tags.team = 'core'")]
        versions = client.search_model_versions(f"name = '{{prefix}}-b'", order_by=["version_number ASC"])
        by_run = client.search_model_versions(f"run_id = '{{run.info.run_id}}' AND tags.s = 'c'", max_results=2)
        rest = client.search_model_versions(f"run_id = '{{run.info.run_id}}' AND tags.s = 'c'", max_results=2,
                                            page_token=by_run.token)
        dup = error_code(client.create_registered_model, f"{{prefix}}-a")
        missing = error_code(client.get_registered_model, f"{{prefix}}-zzz")
        unsafe = error_code(client.create_model_version, f"{{prefix}}-a", "file:///etc/passwd", run_id=run.info.run_id)
        traversal = error_code(client.create_model_version, f"{{prefix}}-a", source + "/../../../..", run_id=run.info.run_id)
        client.rename_registered_model(f"{{prefix}}-c", f"{{prefix}}-renamed")
        renamed = client.get_model_version(f"{{prefix}}-renamed", "3").name
        client.delete_model_version(f"{{prefix}}-b", "3")
        after_delete = client.create_model_version(f"{{prefix}}-b", source, run_id=run.info.run_id).version
        client.delete_registered_model_tag(f"{{prefix}}-a", "team")
        client.delete_model_version_tag(f"{{prefix}}-a", "1", "s")
        client.set_registered_model_alias(f"{{prefix}}-a", "champion", "2")
        client.delete_registered_model_alias(f"{{prefix}}-a", "champion")
        client.delete_registered_model(f"{{prefix}}-a")
        gone = error_code(client.get_registered_model, f"{{prefix}}-a")
        emit({{
            "pages": pages,
            "core": core,
            "versions": [v.version for v in versions],
            "by_run": [(v.name, v.version) for v in by_run] + [(v.name, v.version) for v in rest],
            "errors": [dup, missing, unsafe, traversal, gone],
            "renamed": renamed,
            "after_delete": after_delete,
        }})
        """
    )
    p = unique
    assert got["pages"] == [[f"{p}-a", f"{p}-b"], [f"{p}-c"]]
    assert got["core"] == [f"{p}-a", f"{p}-c"]
    assert got["versions"] == ["1", "2", "3"]
    assert sorted(got["by_run"]) == [[f"{p}-c", "1"], [f"{p}-c", "2"], [f"{p}-c", "3"]]
    assert got["errors"] == [
        "RESOURCE_ALREADY_EXISTS",
        "RESOURCE_DOES_NOT_EXIST",
        "INVALID_PARAMETER_VALUE",
        "INVALID_PARAMETER_VALUE",
        "RESOURCE_DOES_NOT_EXIST",
    ]
    assert got["renamed"] == f"{p}-renamed"
    assert got["after_delete"] == "4"


def test_webhook_api_with_mlflow(mlflow3, unique):
    entity, action = "MODEL_VERSION", "CREATED"
    got = mlflow3.run(
        f"""
        from mlflow.entities.webhook import WebhookEvent, WebhookEntity, WebhookAction
        client = MlflowClient()
        event = WebhookEvent(WebhookEntity.{entity}, WebhookAction.{action})
        hook = client.create_webhook(name={unique!r}, url="https://93.184.216.34/hook", events=[event], secret="s")
        same = client.get_webhook(hook.webhook_id)
        listed = [w.webhook_id for w in client.list_webhooks()]
        updated = client.update_webhook(hook.webhook_id, description="ci")
        refused = error_code(client.create_webhook, name="x", url="http://169.254.169.254/", events=[event])
        client.delete_webhook(hook.webhook_id)
        emit({{
            "name": same.name, "events": [str(e) for e in same.events], "status": str(same.status),
            "listed": hook.webhook_id in listed, "description": updated.description, "refused": refused,
            "gone": error_code(client.get_webhook, hook.webhook_id),
        }})
        """
    )
    assert got == {
        "name": unique,
        "events": ["model_version.created"],
        "status": "ACTIVE",
        "listed": True,
        "description": "ci",
        "refused": "INVALID_PARAMETER_VALUE",
        "gone": "RESOURCE_DOES_NOT_EXIST",
    }
