"""Online feature lookup for ``modelyard models serve``: a model logged with a feature spec gets the
features a request lacks from the online store its tables were last published to, by the
request's keys. Values in the request win; a key with no online row gets the lookup's defaults, or
a 400 naming the key. Models without a feature spec pass through untouched (one dictionary lookup).
"""

from __future__ import annotations

import logging
import threading
import weakref
from typing import Any

from modelyard.exceptions import InvalidParameterValue
from modelyard.features.spec import FeatureSpec, ResolvedLookup

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_enrichers: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()


class OnlineEnricher:
    """The lookups of one model's feature spec, with their tables and online stores opened once."""

    def __init__(self, spec: FeatureSpec, tracking_uri: str | None) -> None:
        from modelyard.features import FeatureClient
        from modelyard.features.online import open_store
        from modelyard.features.publish import newest_store

        self.spec = spec
        fc = FeatureClient(tracking_uri)
        self.tables = {lk.table_name: fc.get_table(lk.table_name) for lk in spec.lookups}
        stores: dict[str, Any] = {}
        self.stores = {}
        for name, table in self.tables.items():
            uri = newest_store(table)
            self.stores[name] = stores.get(uri) or stores.setdefault(uri, open_store(uri))

    def __call__(self, frame):
        planned = []  # (lookup, wanted features, key tuples, key strings)
        for lk in self.spec.lookups:
            wanted = [
                f for f in lk.features if f.output_name not in frame.columns or frame[f.output_name].isna().any()
            ]
            if wanted:
                planned.append((lk, wanted, *self._keys(frame, lk)))
        looked_up: dict[str, Any] = {}
        if planned:
            found = self._read(planned)
            for (lk, wanted, rows, _), values in zip(planned, found, strict=True):
                looked_up.update(self._columns(frame, lk, wanted, rows, values))
        missing = [c for c in self.spec.input_columns if c not in frame.columns and c not in looked_up]
        if missing:
            raise InvalidParameterValue(f"The request lacks column(s) {missing}, which the model takes as inputs")
        if not looked_up:
            return frame[list(self.spec.input_columns)]
        import pandas as pd

        # one DataFrame built from whole columns: inserting them one by one costs a copy each
        return pd.DataFrame(
            {c: looked_up[c] if c in looked_up else frame[c] for c in self.spec.input_columns}, index=frame.index
        )

    def _keys(self, frame, lk: ResolvedLookup) -> tuple[list[tuple], list[str]]:
        from modelyard.features.publish import key_strings

        for col in lk.lookup_key:
            if col not in frame.columns:
                raise InvalidParameterValue(
                    f"The request has no column {col!r}, the key to look up features of {lk.table_name!r}"
                )
        rows = list(zip(*(frame[c].tolist() for c in lk.lookup_key), strict=True))
        return rows, key_strings(self.tables[lk.table_name], rows)

    def _read(self, planned) -> list[list]:
        """Every planned lookup read, one ``read_many`` (one round trip) per online store."""
        found: list = [None] * len(planned)
        by_store: dict[int, list[int]] = {}
        for i, (lk, *_rest) in enumerate(planned):
            by_store.setdefault(id(self.stores[lk.table_name]), []).append(i)
        for indexes in by_store.values():
            store = self.stores[planned[indexes[0]][0].table_name]
            answers = store.read_many([
                (planned[i][0].table_name, planned[i][3], [f.name for f in planned[i][1]]) for i in indexes
            ])
            for i, answer in zip(indexes, answers, strict=True):
                found[i] = answer
        return found

    @staticmethod
    def _columns(frame, lk: ResolvedLookup, wanted, rows, found) -> dict[str, Any]:
        """The ``wanted`` features of ``lk`` for each request row (a value in the request wins)."""
        columns: dict[str, list] = {f.output_name: [] for f in wanted}
        for key, values in zip(rows, found, strict=True):
            if values is None and any(f.default is None for f in wanted):
                shown = dict(zip(lk.lookup_key, key, strict=True))
                raise InvalidParameterValue(f"No online features in {lk.table_name!r} for key {shown}")
            for f in wanted:
                value = None if values is None else values.get(f.name)
                columns[f.output_name].append(f.default if value is None else value)
        out: dict[str, Any] = {}
        for name, values in columns.items():
            if name in frame.columns:  # the request gave some values: keep them, fill its nulls
                import pandas as pd

                out[name] = frame[name].where(frame[name].notna(), pd.Series(values, index=frame.index))
            else:
                out[name] = values
        return out


def online_features(model: Any, frame: Any, tracking_uri: str | None) -> Any:
    """``frame`` (a request's input) with ``model``'s missing features looked up online (a value the
    request gives wins; a null in the request counts as missing); ``frame`` itself when the model has
    no feature spec."""
    enricher = _enrichers.get(model)
    if enricher is None:
        with _lock:
            enricher = _enrichers.get(model)
            if enricher is None:
                spec = FeatureSpec.load(model.model_dir) if getattr(model, "model_dir", None) else None
                enricher = OnlineEnricher(spec, tracking_uri) if spec is not None and spec.lookups else False
                _enrichers[model] = enricher
    if enricher is False:
        return frame
    import pandas as pd

    if not isinstance(frame, pd.DataFrame):
        raise InvalidParameterValue("A model with a feature spec takes a DataFrame input (dataframe_split or dataframe_records)")
    return enricher(frame)
