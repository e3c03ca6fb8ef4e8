"""Online feature lookup for ``modelyard models serve`` and ``modelyard models stream``: a model logged
with a feature spec gets the features an input lacks from the online store its tables were last
published to, by the input's keys. Values in the input win; a key with no online row gets the
lookup's defaults, or is refused naming the key (serving: a 400 for the request; streaming: that
event is dead-lettered, the rest of its micro-batch is scored). Models without a feature spec pass
through untouched (one dictionary lookup).

The lookups of one batch are read in one round trip per online store (``fetch``: the HMGETs of every
table of the batch sent as one write), the values decoded per the tables' column types. When every
model input is a double (looked up from a ``double`` column, or a float64 column of the input), the
model's input frame is one float64 block built from the values directly; otherwise one frame from
whole columns.
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
    """The lookups of one model's feature spec, with their tables, online stores and decoders ready."""

    def __init__(self, spec: FeatureSpec, tracking_uri: str | None) -> None:
        import pandas as pd

        from modelyard.features import FeatureClient
        from modelyard.features.codec import codecs_for
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
        self.codecs = {name: codecs_for(table.location, table.columns) for name, table in self.tables.items()}
        self.index = pd.Index(spec.input_columns)
        self._same_labels: dict[int, tuple[Any, bool]] = {}  # id(labels) -> (labels, names the inputs)
        # the model inputs looked up from a double column: a float64 block can hold them
        self.doubles = {
            f.output_name for lk in spec.lookups for f in lk.features
            if (column := self.tables[lk.table_name].column(f.name)) is not None and column.dtype == "double"
        }

    def __call__(self, frame, labels: Any = None):
        """``frame`` with the features it lacks, as the model's input columns; the first row that
        cannot get them raises ``InvalidParameterValue`` naming it (a request is all or nothing)."""
        frame, refused = self.lookup(frame, labels)
        if refused:
            raise InvalidParameterValue(refused[min(refused)])
        return frame

    def lookup(self, frame, labels: Any = None) -> tuple[Any, dict[int, str]]:
        """(``frame`` with the features it lacks, as the model's input columns; {row position: why
        that row cannot get its features}). The refused rows' values in the frame are meaningless."""
        refused: dict[int, str] = {}
        n = len(frame)
        # the columns by name, taken in one pass: ``frame[name]`` would first build the column
        # index's hash table, which costs more than the whole lookup of a one-row request
        present = dict(frame.items())
        reads = []  # (lookup, wanted features, key tuples, key strings)
        for lk in self.spec.lookups:
            wanted = [f for f in lk.features if f.output_name not in present or _has_nulls(present[f.output_name])]
            if not wanted:
                continue
            absent = [col for col in lk.lookup_key if col not in present]
            if absent:
                why = f"The request has no column {absent[0]!r}, the key to look up features of {lk.table_name!r}"
                for i in range(n):
                    refused.setdefault(i, why)
                continue
            rows = list(zip(*(present[c].tolist() for c in lk.lookup_key), strict=True))
            reads.append((lk, wanted, rows, self._keys(lk, rows, refused)))
        looked_up: dict[str, Any] = {}
        for (lk, wanted, rows, _), values in zip(reads, self._read(reads), strict=True):
            looked_up.update(self._columns(frame, present, lk, wanted, rows, values, refused))
        missing = [c for c in self.spec.input_columns if c not in present and c not in looked_up]
        if missing:
            why = f"The request lacks column(s) {missing}, which the model takes as inputs"
            refused.update({i: why for i in range(n) if i not in refused})
            return frame, refused
        return self._frame(frame, present, looked_up, self._labels(labels)), refused

    def _labels(self, labels: Any):
        """``labels`` when they are the model's input columns in order, else the enricher's own."""
        if labels is None:
            return self.index
        same = self._same_labels.get(id(labels))
        if same is None:
            same = self._same_labels[id(labels)] = (labels, tuple(labels) == tuple(self.spec.input_columns))
        return labels if same[0] is labels and same[1] else self.index

    def _frame(self, frame, present: dict[str, Any], looked_up: dict[str, Any], labels: Any):
        """The model's input frame: one float64 block when every input is a double, else one frame
        built from whole columns (inserting them one by one costs a copy each)."""
        import numpy as np
        import pandas as pd

        doubles = self.doubles
        columns = []
        for c in self.spec.input_columns:
            values = looked_up.get(c)
            if values is None:
                values = present[c]
            elif c not in doubles:
                break
            if not isinstance(values, list):  # a column of the input (filled where it had nulls)
                if values.dtype != np.float64:
                    break
                values = values.to_numpy()
            columns.append(values)
        else:
            try:
                block = np.array(columns, dtype=np.float64).T if columns else np.empty((len(frame), 0))
            except (TypeError, ValueError):  # a default that is no number: the general way
                block = None
            if block is not None:
                return pd.DataFrame(block, index=frame.index, columns=labels, copy=False)
        data = {c: looked_up[c] if c in looked_up else present[c] for c in self.spec.input_columns}
        return pd.DataFrame(data, index=frame.index)

    def _keys(self, lk: ResolvedLookup, rows: list[tuple], refused: dict[int, str]) -> list[str | None]:
        """The rows' keys as the store encodes them; a key of the wrong type refuses its row only."""
        from modelyard.features.publish import key_strings

        table = self.tables[lk.table_name]
        try:
            return list(key_strings(table, rows))
        except InvalidParameterValue:
            pass
        keys: list[str | None] = []
        for i, row in enumerate(rows):
            try:
                keys.append(key_strings(table, [row])[0])
            except InvalidParameterValue as exc:
                refused.setdefault(i, exc.message)
                keys.append(None)
        return keys

    def _read(self, reads: list) -> list[list]:
        """Every lookup's rows, one ``fetch`` (one round trip) per online store."""
        from modelyard.features.codec import GENERIC

        by_store: dict[int, list[int]] = {}
        for i, (lk, _, _, _) in enumerate(reads):
            by_store.setdefault(id(self.stores[lk.table_name]), []).append(i)
        found: list[list] = [[] for _ in reads]
        for positions in by_store.values():
            store = self.stores[reads[positions[0]][0].table_name]
            requests = []
            for i in positions:
                lk, wanted, _, keys = reads[i]
                codecs = self.codecs[lk.table_name]
                names = [f.name for f in wanted]
                requests.append((lk.table_name, [k for k in keys if k is not None], names,
                                 [codecs.get(name, GENERIC) for name in names]))
            for i, values in zip(positions, store.fetch(requests), strict=True):
                it = iter(values)
                found[i] = [next(it) if k is not None else None for k in reads[i][3]]
        return found

    @staticmethod
    def _columns(frame, present: dict[str, Any], lk: ResolvedLookup, wanted, rows, found, refused: dict[int, str]) -> dict[str, Any]:
        """The ``wanted`` features of ``lk`` for each row (a value in the input wins); a row whose key has
        no online row and a feature without default is added to ``refused``."""
        columns: dict[str, list] = {f.output_name: [] for f in wanted}
        appends = [(j, f.default, columns[f.output_name].append) for j, f in enumerate(wanted)]
        for i, values in enumerate(found):
            if values is None:
                if i not in refused and any(f.default is None for f in wanted):
                    refused[i] = f"No online features in {lk.table_name!r} for key {dict(zip(lk.lookup_key, rows[i], strict=True))}"
                for _, default, append in appends:
                    append(default)
                continue
            for j, default, append in appends:
                value = values[j]
                append(default if value is None else value)
        out: dict[str, Any] = {}
        for name, values in columns.items():
            if name in present:  # the input gave some values: keep them, fill its nulls
                import pandas as pd

                given = present[name]
                out[name] = given.where(given.notna(), pd.Series(values, index=frame.index))
            else:
                out[name] = values
        return out


def _has_nulls(series) -> bool:
    import numpy as np

    if series.dtype == np.float64:  # NaN is a float64 column's null: no pandas mask needed
        return bool(np.isnan(series.to_numpy()).any())
    return bool(series.isna().any())


def enricher_for(model: Any, tracking_uri: str | None) -> OnlineEnricher | None:
    """The (cached) ``OnlineEnricher`` of a loaded model; None when it has no feature spec."""
    enricher = _enrichers.get(model)
    if enricher is None:
        with _lock:
            enricher = _enrichers.get(model)
            if enricher is None:
                spec = FeatureSpec.load(model.model_dir) if getattr(model, "model_dir", None) else None
                enricher = OnlineEnricher(spec, tracking_uri) if spec is not None and spec.lookups else False
                _enrichers[model] = enricher
    return enricher or None


def online_features(model: Any, frame: Any, tracking_uri: str | None, labels: Any = None) -> Any:
    """``frame`` (a request's input) with ``model``'s missing features looked up online (a value the
    request gives wins; a null in the request counts as missing); ``frame`` itself when the model has
    no feature spec. ``labels``: a pandas Index to label a float64 input block with when it names the
    model's inputs in order (the served signature's: the scoring server then knows the frame's
    shape without reading its dtypes)."""
    enricher = enricher_for(model, tracking_uri)
    if enricher is None:
        return frame
    import pandas as pd

    if not isinstance(frame, pd.DataFrame):
        raise InvalidParameterValue("A model with a feature spec takes a DataFrame input (dataframe_split or dataframe_records)")
    return enricher(frame, labels)
