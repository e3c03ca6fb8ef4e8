"""One local copy per resolved model, for a process that hands a model folder to others (the
Spark driver, whose Python workers load the model from that folder).

``local_copy(uri)`` resolves ``uri`` once (an alias or stage to the files of the version it names
now, so a moved alias gives the new model) and answers ``(key, folder)``: ``key`` names the
resolved model (the tracking URI and the artifact URI of its files; for a local folder, its path and
its MLmodel file's size and time), so it is what workers cache loaded models by; ``folder`` holds
the files. A remote model is downloaded the first time only, into one private temporary folder of
the process that is removed when the interpreter exits (or by :func:`clear`); a local model is
used in place.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from modelyard.models.mlmodel import MLMODEL_FILE
from modelyard.models.uri import fetch_model, is_local, resolve_location

if TYPE_CHECKING:
    from modelyard.tracking.context import ClientContext

_lock = threading.Lock()
_root: Path | None = None  # this process's folder of copies, created at the first download
_copies: dict[str, Path] = {}  # key -> folder under _root


def local_copy(uri: str, tracking_uri: str | None = None, context: ClientContext | None = None) -> tuple[str, Path]:
    """``(key, folder)`` of the model ``uri`` names now (see the module's docstring)."""
    location, client = resolve_location(str(uri), tracking_uri, context)
    if is_local(location):
        folder = fetch_model(location)  # checks the MLmodel file is there
        stat = (folder / MLMODEL_FILE).stat()
        return f"{folder.resolve()}#{stat.st_size}:{stat.st_mtime_ns}", folder
    key = f"{client.tracking_uri if client is not None else ''} {location}"
    with _lock:  # one download per model, whichever thread asks first
        folder = _copies.get(key)
        if folder is not None and (folder / MLMODEL_FILE).is_file():
            return key, folder
        target = Path(tempfile.mkdtemp(prefix="model-", dir=_folder()))
        try:
            fetch_model(location, target, client)
        except BaseException:
            shutil.rmtree(target, ignore_errors=True)
            raise
        _copies[key] = target
        return key, target


def _folder() -> Path:
    global _root
    if _root is None or not _root.is_dir():
        _root = Path(tempfile.mkdtemp(prefix="modelyard-models-"))
    return _root


@atexit.register
def clear() -> None:
    """Remove every copy (the next ``local_copy`` downloads again). Do not call it while a job that
    reads these folders may still start loading from them."""
    global _root
    with _lock:
        if _root is not None:
            shutil.rmtree(_root, ignore_errors=True)
        _root = None
        _copies.clear()
