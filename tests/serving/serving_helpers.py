"""Helpers shared by the serving tests (importable as ``serving_helpers``; conftest holds the fixtures)."""

from __future__ import annotations

import time

import pandas as pd

COLUMNS = [f"f{i}" for i in range(6)]


def split_body(frame: pd.DataFrame) -> dict:
    return {"dataframe_split": {"columns": list(frame.columns), "data": frame.to_numpy().tolist()}}


def wait_until(condition, timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)
