"""`modelyard artifacts list|download|log-artifact|log-artifacts`."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from modelyard.cli.artifacts import _split_last


@pytest.fixture
def run_id(churn) -> str:
    """r1 of the churn experiment, which has ``sub/notes.txt``."""
    return churn.run_ids["r1"]


def test_list_root_and_folder_as_json(invoke, run_id):
    root = invoke("artifacts", "list", "--run-id", run_id, "--output", "json")
    assert root.exit_code == 0, root.output
    assert json.loads(root.stdout) == [{"path": "sub", "is_dir": True}]
    sub = invoke("artifacts", "list", "-r", run_id, "--artifact-path", "sub", "-o", "json")
    assert json.loads(sub.stdout) == [{"path": "sub/notes.txt", "is_dir": False, "file_size": 15}]


def test_list_table(invoke, run_id):
    result = invoke("artifacts", "list", "-r", run_id, "-a", "sub")
    assert result.exit_code == 0, result.output
    row = next(line for line in result.stdout.splitlines() if "notes.txt" in line)
    assert "sub/notes.txt" in row and "file" in row and "15 B" in row
    assert "sub/" in invoke("artifacts", "list", "-r", run_id).stdout


def test_list_nothing_logged(invoke, churn):
    result = invoke("artifacts", "list", "-r", churn.run_ids["r0"])
    assert result.exit_code == 0, result.output
    assert "No artifacts found." in result.stdout
    assert json.loads(invoke("artifacts", "list", "-r", churn.run_ids["r0"], "-o", "json").stdout) == []


def test_list_by_artifact_uri(invoke, run_id, client):
    uri = client.get_run(run_id).info.artifact_uri
    plain = invoke("artifacts", "list", "--artifact-uri", uri, "-a", "sub", "-o", "json")
    assert [f["path"] for f in json.loads(plain.stdout)] == ["sub/notes.txt"]
    runs_uri = invoke("artifacts", "list", "-u", f"runs:/{run_id}/sub", "-o", "json")
    assert [f["path"] for f in json.loads(runs_uri.stdout)] == ["sub/notes.txt"]


def test_log_artifact_then_list(invoke, churn, client, tmp_path):
    run_id = churn.run_ids["r0"]
    local = tmp_path / "model.pkl"
    local.write_bytes(b"\x00" * 2048)
    result = invoke(
        "artifacts",
        "log-artifact",
        "--local-file",
        str(local),
        "--run-id",
        run_id,
        "--artifact-path",
        "models",
    )
    assert result.exit_code == 0, result.output
    assert run_id in result.stdout
    assert [(f.path, f.file_size) for f in client.list_artifacts(run_id, "models")] == [
        ("models/model.pkl", 2048)
    ]
    assert "2.0 KB" in invoke("artifacts", "list", "-r", run_id, "-a", "models").stdout


def test_log_artifact_to_the_root(invoke, churn, client, tmp_path):
    local = tmp_path / "a.txt"
    local.write_text("a")
    assert invoke("artifacts", "log-artifact", "-l", str(local), "-r", churn.run_ids["r0"]).exit_code == 0
    assert [f.path for f in client.list_artifacts(churn.run_ids["r0"])] == ["a.txt"]


def test_log_artifacts_folder(invoke, churn, client, tmp_path):
    folder = tmp_path / "plots"
    (folder / "deep").mkdir(parents=True)
    (folder / "roc.png").write_bytes(b"png")
    (folder / "deep" / "pr.png").write_bytes(b"png")
    result = invoke(
        "artifacts", "log-artifacts", "--local-dir", str(folder), "-r", churn.run_ids["r0"], "-a", "plots"
    )
    assert result.exit_code == 0, result.output
    assert [f.path for f in client.list_artifacts(churn.run_ids["r0"], "plots")] == [
        "plots/deep",
        "plots/roc.png",
    ]


def test_log_artifact_missing_local_file(invoke, run_id, expect_error, tmp_path):
    expect_error(
        invoke("artifacts", "log-artifact", "-l", str(tmp_path / "nope.txt"), "-r", run_id),
        2,
        "--local-file",
        "does not exist",
    )


def test_log_artifact_unknown_run(invoke, client, expect_error, tmp_path):
    local = tmp_path / "a.txt"
    local.write_text("a")
    expect_error(
        invoke("artifacts", "log-artifact", "-l", str(local), "-r", "nope"), 1, "RESOURCE_DOES_NOT_EXIST"
    )


def test_download_everything(invoke, run_id, tmp_path):
    dst = tmp_path / "dst"
    result = invoke("artifacts", "download", "--run-id", run_id, "--dst-path", str(dst))
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{dst}\n"
    assert (dst / "sub" / "notes.txt").read_text() == "hello artifacts"


def test_download_one_file(invoke, run_id, tmp_path):
    result = invoke("artifacts", "download", "-r", run_id, "-a", "sub/notes.txt", "-d", str(tmp_path / "d"))
    assert result.exit_code == 0, result.output
    local = Path(result.stdout.strip())
    assert local == tmp_path / "d" / "sub" / "notes.txt"
    assert local.read_text() == "hello artifacts"


def test_download_to_a_temporary_folder_by_default(invoke, run_id):
    result = invoke("artifacts", "download", "-r", run_id, "-a", "sub/notes.txt")
    assert result.exit_code == 0, result.output
    local = Path(result.stdout.strip())
    try:
        assert local.read_text() == "hello artifacts"
    finally:
        import shutil

        shutil.rmtree(local.parents[1])


def test_download_by_runs_uri(invoke, run_id, tmp_path):
    result = invoke(
        "artifacts", "download", "--artifact-uri", f"runs:/{run_id}/sub/notes.txt", "-d", str(tmp_path / "d")
    )
    assert result.exit_code == 0, result.output
    assert Path(result.stdout.strip()).read_text() == "hello artifacts"


def test_download_by_plain_uri_keeps_the_last_segment(invoke, run_id, client, tmp_path):
    folder = client.get_run(run_id).info.artifact_uri + "/sub"
    result = invoke("artifacts", "download", "-u", folder, "-d", str(tmp_path / "d"))
    assert result.exit_code == 0, result.output
    assert Path(result.stdout.strip()) == tmp_path / "d" / "sub"
    assert (tmp_path / "d" / "sub" / "notes.txt").read_text() == "hello artifacts"


def test_download_missing_artifact(invoke, run_id, expect_error):
    expect_error(
        invoke("artifacts", "download", "-r", run_id, "-a", "nope.txt"),
        1,
        "RESOURCE_DOES_NOT_EXIST",
        "nope.txt",
    )


def test_download_unknown_run(invoke, client, expect_error):
    expect_error(
        invoke("artifacts", "download", "-r", "nope"),
        1,
        "RESOURCE_DOES_NOT_EXIST: Run with id=nope not found",
    )


def test_traversal_is_refused(invoke, run_id, expect_error):
    expect_error(
        invoke("artifacts", "list", "-r", run_id, "-a", "../.."), 1, "INVALID_PARAMETER_VALUE", "'..'"
    )
    expect_error(
        invoke("artifacts", "download", "-r", run_id, "-a", "/etc/passwd"), 1, "INVALID_PARAMETER_VALUE"
    )


@pytest.mark.parametrize("command", ["list", "download"])
def test_needs_exactly_one_of_run_id_and_uri(invoke, run_id, expect_error, command):
    expect_error(invoke("artifacts", command), 2, "exactly one of --run-id and --artifact-uri")
    expect_error(invoke("artifacts", command, "-r", run_id, "-u", "/tmp"), 2, "exactly one")


def test_bad_runs_uri(invoke, client, expect_error):
    expect_error(
        invoke("artifacts", "list", "-u", "runs:/"), 1, "INVALID_PARAMETER_VALUE", "runs:/RUN_ID/path"
    )


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("file:///a/b", ("file:///a", "b")),
        ("file:///a/b/", ("file:///a", "b")),
        ("file:///b", ("file:///", "b")),
        ("s3://bucket/x/y", ("s3://bucket/x", "y")),
        ("s3://bucket", ("s3://bucket", "")),
        ("/a/b", ("/a", "b")),
        ("/a", ("/", "a")),
        ("rel", (".", "rel")),
    ],
)
def test_split_last(uri, expected):
    if os.name == "nt" and not uri.startswith(("file:", "s3:")):
        pytest.skip("POSIX paths")
    assert _split_last(uri) == expected
