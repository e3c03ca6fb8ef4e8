"""The MLmodel file: a model folder's description, written exactly as MLflow 3 writes it.

Top-level keys (YAML, sorted as MLflow's ``yaml.safe_dump`` sorts them): ``artifact_path`` and
``run_id`` (only when set), ``flavors``, ``signature`` (each part a JSON string) with
``is_signature_from_type_hint`` / ``type_hint_from_example``, ``saved_input_example_info``,
``model_uuid``, ``model_id``, ``model_size_bytes``, ``mlflow_version``, ``prompts``, ``metadata``,
``utc_time_created``. Unknown keys are kept on read and written back.

``mlflow_version`` names the MLflow release whose format this file follows (3.17.2), so MLflow
tools treat the folder as one of theirs; ``modelyard_version`` (an extra key, which MLflow keeps)
says which modelyard wrote it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from modelyard.exceptions import InvalidParameterValue, ResourceDoesNotExist
from modelyard.models.signature import ModelSignature

MLMODEL_FILE = "MLmodel"
PYFUNC = "python_function"
MLFLOW_FORMAT_VERSION = "3.17.2"
SAFE_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml when installed
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # same resolver and constructors, C parser
_KNOWN = {
    "artifact_path",
    "run_id",
    "utc_time_created",
    "flavors",
    "signature",
    "saved_input_example_info",
    "model_uuid",
    "mlflow_version",
    "metadata",
    "model_size_bytes",
    "model_id",
    "prompts",
    "is_signature_from_type_hint",
    "type_hint_from_example",
}


def _utc_now() -> str:
    return str(dt.datetime.now(dt.UTC).replace(tzinfo=None))


@dataclass
class Model:
    """The content of an MLmodel file."""

    artifact_path: str | None = None
    run_id: str | None = None
    utc_time_created: str = field(default_factory=_utc_now)
    flavors: dict[str, dict[str, Any]] = field(default_factory=dict)
    signature: ModelSignature | None = None
    saved_input_example_info: dict | None = None
    model_uuid: str = field(default_factory=lambda: uuid.uuid4().hex)
    mlflow_version: str | None = MLFLOW_FORMAT_VERSION
    metadata: dict | None = None
    model_size_bytes: int | None = None
    model_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def add_flavor(self, name: str, **conf: Any) -> Model:
        self.flavors[name] = conf
        return self

    def flavor(self, name: str) -> dict[str, Any]:
        """A flavor's configuration; InvalidParameterValue listing the flavors the model has."""
        conf = self.flavors.get(name)
        if conf is None:
            raise InvalidParameterValue(
                f"The model has no {name!r} flavor; its flavors are: {', '.join(sorted(self.flavors)) or 'none'}"
            )
        return conf

    def to_dict(self) -> dict[str, Any]:
        from modelyard import __version__

        out: dict[str, Any] = {
            "flavors": self.flavors,
            "mlflow_version": self.mlflow_version,
            "model_id": self.model_id,
            "model_uuid": self.model_uuid,
            "prompts": None,
            "utc_time_created": self.utc_time_created,
            "modelyard_version": __version__,
        }
        out.update(self.extra)
        if self.artifact_path is not None:
            out["artifact_path"] = self.artifact_path
        if self.run_id is not None:
            out["run_id"] = self.run_id
        if self.signature is not None:
            out["signature"] = self.signature.to_dict()
            out["is_signature_from_type_hint"] = False
            out["type_hint_from_example"] = False
        if self.saved_input_example_info is not None:
            out["saved_input_example_info"] = self.saved_input_example_info
        if self.metadata is not None:
            out["metadata"] = self.metadata
        if self.model_size_bytes is not None:
            out["model_size_bytes"] = self.model_size_bytes
        if self.mlflow_version is None:
            out.pop("mlflow_version")
        return out

    def to_yaml(self) -> str:
        # libyaml's emitter when present: the same YAML, and the pure-Python one costs a tenth of a
        # second for a wide signature (AutoML writes one MLmodel per trial)
        return yaml.dump(self.to_dict(), Dumper=SAFE_DUMPER, default_flow_style=False)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.to_yaml())

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Model:
        if not isinstance(d, dict) or not isinstance(d.get("flavors"), dict):
            raise InvalidParameterValue("Not an MLmodel file: no 'flavors' mapping")
        sig = d.get("signature")
        return cls(
            artifact_path=d.get("artifact_path"),
            run_id=d.get("run_id"),
            utc_time_created=str(d.get("utc_time_created") or _utc_now()),
            flavors=d["flavors"],
            signature=ModelSignature.from_dict(sig) if isinstance(sig, dict) else None,
            saved_input_example_info=d.get("saved_input_example_info"),
            model_uuid=d.get("model_uuid") or uuid.uuid4().hex,
            mlflow_version=d.get("mlflow_version"),
            metadata=d.get("metadata"),
            model_size_bytes=d.get("model_size_bytes"),
            model_id=d.get("model_id"),
            extra={k: v for k, v in d.items() if k not in _KNOWN and k != "modelyard_version"},
        )

    @classmethod
    def load(cls, path: str | Path) -> Model:
        """Read ``path/MLmodel`` (or the MLmodel file ``path``)."""
        path = Path(path)
        file = path / MLMODEL_FILE if path.is_dir() else path
        if not file.is_file():
            raise ResourceDoesNotExist(f"No MLmodel file at {file}: not a model folder")
        try:
            data = yaml.load(file.read_text(), Loader=SAFE_LOADER)  # noqa: S506 - a safe loader
        except yaml.YAMLError as exc:
            raise InvalidParameterValue(f"The MLmodel file at {file} is not valid YAML: {exc}") from None
        return cls.from_dict(data)

    # -- schema helpers (MLflow's names) -----------------------------------------------------
    def get_input_schema(self):
        return self.signature.inputs if self.signature is not None else None

    def get_output_schema(self):
        return self.signature.outputs if self.signature is not None else None

    def get_params_schema(self):
        return self.signature.params if self.signature is not None else None

    def load_input_example(self, path: str | Path) -> Any:
        from modelyard.models.examples import load_example

        return load_example(Path(path), self.saved_input_example_info)


@dataclass(frozen=True)
class ModelInfo:
    """What ``log_model`` returns (MLflow's ModelInfo fields)."""

    artifact_path: str | None
    flavors: dict[str, dict[str, Any]]
    model_uri: str
    model_uuid: str
    run_id: str | None
    saved_input_example_info: dict | None
    signature: ModelSignature | None
    utc_time_created: str
    mlflow_version: str | None
    metadata: dict | None = None
    model_id: str | None = None
    name: str | None = None
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    registered_model_version: int | None = None


def folder_size(path: Path) -> int:
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())


def model_file(model_dir: str | Path, rel: Any) -> Path:
    """``model_dir/rel`` for a path written in MLmodel, refused when it leaves the model folder."""
    if not isinstance(rel, str) or not rel:
        raise InvalidParameterValue(f"The MLmodel file names an invalid path {rel!r}")
    root = Path(model_dir).resolve()
    path = (root / rel).resolve()
    if not path.is_relative_to(root):
        raise InvalidParameterValue(f"The MLmodel file names a path outside the model folder: {rel!r}")
    return path
