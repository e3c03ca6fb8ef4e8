"""Enumerations and small shared entities (no I/O)."""

from __future__ import annotations

import enum
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


class LifecycleStage(enum.StrEnum):
    ACTIVE = "active"
    DELETED = "deleted"

    def __str__(self) -> str:
        return self.value


class ViewType(enum.IntEnum):
    """Which lifecycle stages a search returns (MLflow's numbering)."""

    ACTIVE_ONLY = 1
    DELETED_ONLY = 2
    ALL = 3

    @classmethod
    def parse(cls, value: ViewType | int | str | None) -> ViewType:
        from modelyard.exceptions import InvalidParameterValue

        if value is None:
            return cls.ACTIVE_ONLY
        if isinstance(value, ViewType):
            return value
        if isinstance(value, int):
            try:
                return cls(value)
            except ValueError:
                pass
        else:
            name = str(value).strip().upper().replace(" ", "_")
            if name in cls.__members__:
                return cls[name]
            if name.isdigit():
                return cls.parse(int(name))
        raise InvalidParameterValue(
            f"Invalid view_type {value!r}: expected one of ACTIVE_ONLY, DELETED_ONLY, ALL"
        )

    def stages(self) -> tuple[str, ...]:
        if self is ViewType.ACTIVE_ONLY:
            return (LifecycleStage.ACTIVE.value,)
        if self is ViewType.DELETED_ONLY:
            return (LifecycleStage.DELETED.value,)
        return (LifecycleStage.ACTIVE.value, LifecycleStage.DELETED.value)


class RunStatus(enum.StrEnum):
    RUNNING = "RUNNING"
    SCHEDULED = "SCHEDULED"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"

    def __str__(self) -> str:
        return self.value

    @classmethod
    def parse(cls, value: RunStatus | str | int) -> RunStatus:
        from modelyard.exceptions import InvalidParameterValue

        if isinstance(value, RunStatus):
            return value
        if isinstance(value, int):  # proto enum numbers: RUNNING=1 .. KILLED=5
            order = [cls.RUNNING, cls.SCHEDULED, cls.FINISHED, cls.FAILED, cls.KILLED]
            if 1 <= value <= 5:
                return order[value - 1]
        elif str(value).upper() in cls.__members__:
            return cls[str(value).upper()]
        raise InvalidParameterValue(
            f"Invalid run status {value!r}: expected one of {', '.join(cls.__members__)}"
        )

    @property
    def is_terminated(self) -> bool:
        return self in (RunStatus.FINISHED, RunStatus.FAILED, RunStatus.KILLED)


@dataclass(frozen=True, slots=True)
class FileInfo:
    """An artifact: its path relative to the artifact root, whether a folder, and its size."""

    path: str
    is_dir: bool
    file_size: int | None = None

    def to_dict(self) -> dict:
        out: dict = {"path": self.path, "is_dir": self.is_dir}
        if self.file_size is not None and not self.is_dir:
            out["file_size"] = self.file_size
        return out


class PagedList(Sequence[T], Generic[T]):
    """A page of results and the opaque token of the next page (None on the last)."""

    __slots__ = ("_items", "token")

    def __init__(self, items: Sequence[T], token: str | None = None) -> None:
        self._items = list(items)
        self.token = token

    def __getitem__(self, i):  # type: ignore[override]
        return self._items[i]

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[T]:
        return iter(self._items)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, PagedList):
            return self._items == other._items and self.token == other.token
        if isinstance(other, list):
            return self._items == other
        return NotImplemented

    def __repr__(self) -> str:
        return f"PagedList({self._items!r}, token={self.token!r})"
