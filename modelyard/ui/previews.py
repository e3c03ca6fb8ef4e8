"""Previews of artifact files, built on the server: text and source (first ``PREVIEW_BYTES``),
JSON (pretty printed), YAML, images (an ``<img>`` whose source is the download route), CSV/TSV as a
table (first ``TABLE_ROWS`` rows) and MLmodel files (flavors, signature, input example).
"""

from __future__ import annotations

import csv
import io
import json
import posixpath
from dataclasses import dataclass, field
from typing import Any

from modelyard import formatting
from modelyard.artifacts.base import join_artifact_path
from modelyard.entities import FileInfo
from modelyard.exceptions import ModelyardError
from modelyard.ui.artifact_files import (
    IMAGE_TYPES,
    JSON_EXTENSIONS,
    TABLE_EXTENSIONS,
    TEXT_EXTENSIONS,
    TEXT_NAMES,
    YAML_EXTENSIONS,
    ArtifactRoot,
)

PREVIEW_BYTES = 1024 * 1024  # text shown in a preview; longer files are cut with a notice
TABLE_ROWS = 200  # CSV/TSV rows shown
TABLE_COLUMNS = 100
CELL_CHARS = 1000
IMAGE_INLINE_BYTES = 50 * 1024 * 1024  # larger images are offered as a download only
INPUT_EXAMPLE_BYTES = 256 * 1024
MAX_LOGGED_MODELS = 50
MARKDOWN_EXTENSIONS = {".md", ".markdown"}  # rendered (sanitised), with the source one click away


# -- previews ----------------------------------------------------------------------------------
human_size = formatting.size


def preview_kind(name: str) -> str:
    """What a file's name says about how to show it: mlmodel, image, table, json, yaml, markdown, text or unknown."""
    base = name.rsplit("/", 1)[-1]
    ext = posixpath.splitext(base)[1].lower()
    if base == "MLmodel":
        return "mlmodel"
    if ext in IMAGE_TYPES:
        return "image"
    if ext in TABLE_EXTENSIONS:
        return "table"
    if ext in JSON_EXTENSIONS:
        return "json"
    if ext in YAML_EXTENSIONS or base == "MLproject":
        return "yaml"
    if ext in MARKDOWN_EXTENSIONS:
        return "markdown"
    if ext in TEXT_EXTENSIONS or base in TEXT_NAMES:
        return "text"
    return "unknown"


def _looks_binary(data: bytes) -> bool:
    head = data[:8192]
    if b"\x00" in head:
        return True
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start < len(head) - 4  # a character cut at the end is fine
    return False


def _decode(data: bytes) -> str:
    return data.decode("utf-8", errors="replace").removeprefix("\ufeff")


@dataclass
class Preview:
    kind: str  # text, markdown, json, yaml, image, table, mlmodel, binary, too_large, folder
    size: int | None = None
    text: str = ""
    truncated: bool = False
    notice: str = ""
    header: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    more_rows: bool = False
    mlmodel: dict[str, Any] | None = None


def _read_capped(root: ArtifactRoot, rel: str, cap: int) -> tuple[bytes, bool]:
    with root.open(rel) as f:
        data = f.read(cap + 1)
    return data[:cap], len(data) > cap


def _table(text: str, delimiter: str, truncated: bool) -> tuple[list[str], list[list[str]], bool]:
    if truncated and "\n" in text:
        text = text[: text.rindex("\n")]  # drop the cut-off last line
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header: list[str] = []
    rows: list[list[str]] = []
    more = False
    for index, row in enumerate(reader):
        row = [cell[:CELL_CHARS] for cell in row[:TABLE_COLUMNS]]
        if index == 0:
            header = row
        elif len(rows) < TABLE_ROWS:
            rows.append(row)
        else:
            more = True
            break
    width = max([len(header)] + [len(r) for r in rows]) if (header or rows) else 0
    header += [""] * (width - len(header))
    rows = [r + [""] * (width - len(r)) for r in rows]
    return header, rows, more or truncated


def build_preview(root: ArtifactRoot, info: FileInfo) -> Preview:
    """The preview of one file (read at most ``PREVIEW_BYTES``)."""
    kind = preview_kind(info.path)
    size = info.file_size
    if kind == "image":
        if size is not None and size > IMAGE_INLINE_BYTES:
            return Preview(
                "too_large", size, notice=f"This image is {human_size(size)}; download it to view it."
            )
        return Preview("image", size)
    data, truncated = _read_capped(root, info.path, PREVIEW_BYTES)
    if kind == "unknown":
        kind = "binary" if _looks_binary(data) else "text"
    if kind == "binary":
        return Preview("binary", size)
    text = _decode(data)
    notice = f"Showing the first {human_size(PREVIEW_BYTES)} of {human_size(size)}." if truncated else ""
    preview = Preview(kind, size, text=text, truncated=truncated, notice=notice)
    if kind == "json" and not truncated:
        try:
            preview.text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
        except (ValueError, RecursionError):
            preview.notice = "This file is not valid JSON; shown as text."
    elif kind == "table":
        try:
            preview.header, preview.rows, preview.more_rows = _table(
                text, TABLE_EXTENSIONS[_ext(info.path)], truncated
            )
        except csv.Error as exc:
            preview.kind = "text"
            preview.notice = f"Could not read this file as a table ({exc}); shown as text."
        else:
            if preview.more_rows:
                preview.notice = f"Showing the first {len(preview.rows)} rows."
    elif kind == "mlmodel" and not truncated:
        preview.mlmodel = mlmodel_summary(root, info.path, text)
        if preview.mlmodel is None:
            preview.kind = "yaml"
            preview.notice = "This MLmodel file could not be read; shown as text."
    elif kind == "mlmodel":
        preview.kind = "yaml"
    return preview


def _ext(path: str) -> str:
    return posixpath.splitext(path.rsplit("/", 1)[-1])[1].lower()


# -- MLmodel -----------------------------------------------------------------------------------
def _yaml_load(text: str) -> Any:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(text, Loader=loader)  # noqa: S506 - a safe loader


def _schema(value: Any) -> list[dict[str, str]] | None:
    """A signature's inputs/outputs/params (a JSON string in MLmodel) as table rows."""
    if value in (None, ""):
        return None
    try:
        items = json.loads(value) if isinstance(value, str) else value
    except ValueError:
        return [{"name": "", "type": str(value), "required": "", "shape": ""}]
    if not isinstance(items, list):
        return None
    rows = []
    for item in items:
        if not isinstance(item, dict):
            continue
        kind = str(item.get("type", ""))
        shape = ""
        if kind == "tensor":
            spec = item.get("tensor-spec") or {}
            kind = f"tensor ({spec.get('dtype', '')})"
            shape = json.dumps(spec.get("shape"))
        elif item.get("shape") is not None:
            shape = json.dumps(item.get("shape"))
        for extra in ("items", "properties", "values"):
            if extra in item:
                kind += " " + json.dumps(item[extra])[:200]
        required = item.get("required")
        rows.append(
            {
                "name": str(item.get("name", "")),
                "type": kind,
                "required": "" if required is None else ("yes" if required else "no"),
                "shape": shape,
                "default": "" if item.get("default") is None else json.dumps(item.get("default")),
            }
        )
    return rows


def _flavor_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def mlmodel_summary(root: ArtifactRoot, path: str, text: str) -> dict[str, Any] | None:
    """Flavors, signature tables and the input example of an MLmodel file; None if it is not YAML."""
    try:
        doc = _yaml_load(text)
    except Exception:  # noqa: BLE001 - any YAML error: shown as text instead
        return None
    if not isinstance(doc, dict):
        return None
    flavors = doc.get("flavors") if isinstance(doc.get("flavors"), dict) else {}
    signature = doc.get("signature") if isinstance(doc.get("signature"), dict) else {}
    folder = posixpath.dirname(path)
    summary: dict[str, Any] = {
        "info": [
            (label, _flavor_value(doc[key]))
            for key, label in (
                ("model_id", "Model ID"),
                ("run_id", "Run ID"),
                ("artifact_path", "Artifact path"),
                ("utc_time_created", "Created (UTC)"),
                ("mlflow_version", "MLflow version"),
                ("model_size_bytes", "Size (bytes)"),
            )
            if doc.get(key) not in (None, "")
        ],
        "flavors": [
            (name, [(k, _flavor_value(v)) for k, v in conf.items()] if isinstance(conf, dict) else [])
            for name, conf in flavors.items()
        ],
        "inputs": _schema(signature.get("inputs")),
        "outputs": _schema(signature.get("outputs")),
        "params": _schema(signature.get("params")),
        "example": None,
        "folder": folder,
    }
    info = doc.get("saved_input_example_info")
    if isinstance(info, dict) and isinstance(info.get("artifact_path"), str):
        summary["example"] = _input_example(root, join_artifact_path(folder, info["artifact_path"]))
    return summary


def _input_example(root: ArtifactRoot, rel: str) -> dict[str, Any] | None:
    try:
        data, truncated = _read_capped(root, rel, INPUT_EXAMPLE_BYTES)
    except ModelyardError:
        return None
    text = _decode(data)
    example: dict[str, Any] = {
        "path": rel,
        "truncated": truncated,
        "text": text,
        "columns": None,
        "rows": None,
    }
    if truncated:
        return example
    try:
        value = json.loads(text)
    except ValueError:
        return example
    example["text"] = json.dumps(value, indent=2, ensure_ascii=False)
    if (
        isinstance(value, dict)
        and isinstance(value.get("columns"), list)
        and isinstance(value.get("data"), list)
    ):
        example["columns"] = [str(c) for c in value["columns"]]
        example["rows"] = [
            [_flavor_value(c) for c in row] if isinstance(row, list) else [_flavor_value(row)]
            for row in value["data"][:TABLE_ROWS]
        ]
    return example
