"""The feature catalog store on every backend: SQLite, PostgreSQL, MariaDB, and REST against a live
server (the same tests; unique table names, so shared databases need no wiping)."""

from __future__ import annotations

import uuid

import pytest

from modelyard.entities.feature_table import FeatureColumn
from modelyard.exceptions import InvalidParameterValue, ResourceAlreadyExists, ResourceDoesNotExist

COLUMNS = [FeatureColumn("id", "int64", False), FeatureColumn("ts", "timestamp[us, tz=UTC]"), FeatureColumn("x", "double")]


@pytest.fixture
def name() -> str:
    return f"t_{uuid.uuid4().hex[:10]}.features"


def create(store, name, **kw):
    return store.create_feature_table(name, ["id"], ["ts"], COLUMNS, f"/data/{name}", 0,
                                      description="d", tags={"team": "growth"}, creator="alice", **kw)


def test_create_and_get(catalog, name) -> None:
    made = create(catalog, name)
    got = catalog.get_feature_table(name)
    assert got == made
    assert got.primary_keys == ("id",) and got.timestamp_keys == ("ts",) and got.columns == tuple(COLUMNS)
    assert (got.location, got.current_version, got.description, got.creator) == (f"/data/{name}", 0, "d", "alice")
    assert got.tags == {"team": "growth"} and got.creation_time > 0 and got.feature_names == ("x",)


def test_duplicate_and_missing(catalog, name) -> None:
    create(catalog, name)
    with pytest.raises(ResourceAlreadyExists, match="already exists"):
        create(catalog, name)
    with pytest.raises(ResourceDoesNotExist, match="does not exist"):
        catalog.get_feature_table(name + "x")


def test_bad_name(catalog) -> None:
    with pytest.raises(InvalidParameterValue, match="Invalid feature table name"):
        create(catalog, "../etc")


def test_update_tags_publish_delete(catalog, name) -> None:
    create(catalog, name)
    new_cols = COLUMNS + [FeatureColumn("y", "string")]
    updated = catalog.update_feature_table(name, columns=new_cols, version=3, description="new")
    assert (updated.current_version, updated.description, len(updated.columns)) == (3, "new", 4)
    catalog.set_feature_table_tag(name, "team", "risk")
    catalog.set_feature_table_tag(name, "tier", "1")
    catalog.delete_feature_table_tag(name, "tier")
    with pytest.raises(ResourceDoesNotExist):
        catalog.delete_feature_table_tag(name, "tier")
    catalog.record_publish(name, "redis://127.0.0.1:6379/0", 2)
    catalog.record_publish(name, "redis://127.0.0.1:6379/0", 3)
    got = catalog.get_feature_table(name)
    assert got.tags == {"team": "risk"}
    assert [(p.online_store, p.version) for p in got.online_stores] == [("redis://127.0.0.1:6379/0", 3)]
    catalog.delete_feature_table(name)
    with pytest.raises(ResourceDoesNotExist):
        catalog.get_feature_table(name)


def test_search(catalog, name) -> None:
    prefix = name.split(".")[0]
    create(catalog, name)
    create(catalog, prefix + ".other")
    found = catalog.search_feature_tables(f"{prefix}.%")
    assert [t.name for t in found] == [prefix + ".features", prefix + ".other"]
    assert len(catalog.search_feature_tables(f"{prefix}.%", max_results=1)) == 1
    assert catalog.default_location(name).endswith("/feature-tables/" + name)
