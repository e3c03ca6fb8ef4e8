"""Online feature stores: the latest row per key, for lookups at serving time.

- Redis (``redis://host:port/db``, optional ``?prefix=...``): one hash per key,
  ``<prefix><table>:<key as JSON>``, one field per feature holding its JSON value (``codec``); writes
  are pipelined. A read is one round trip: the HMGETs of every key, packed once and sent as one
  write on a pooled connection's socket, the answers parsed by hiredis and decoded per the table's
  column types.
- SQL (any SQLAlchemy URI: ``sqlite:///...``, ``postgresql://...``, ``mysql://...``): one table
  ``modelyard_online_features (table_name, entity_key, payload)``.

``fetch`` is the read every caller builds on: for each (table, keys, features, codecs) request, a
list of decoded values per key (None for a key without a row). ``read`` / ``read_many`` give dicts.

``publish`` is incremental: it writes the keys whose latest row changed since the version last
published to that store and deletes keys that disappeared; the catalog remembers the version.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any, Protocol
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import pyarrow as pa

from modelyard.exceptions import InvalidParameterValue
from modelyard.features.codec import GENERIC, Codec, encode_value

try:
    import hiredis as _hiredis
except ImportError:  # redis-py's own parser then (the ``features`` extra installs hiredis)
    _hiredis = None

logger = logging.getLogger(__name__)

CHUNK = 1000
DEFAULT_PREFIX = "modelyard:ft:"


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def encode(value: Any) -> str:
    """A key's text (feature values: ``codec.encode_value``)."""
    return json.dumps(value, default=_default, separators=(",", ":"))


def entity_key(values: Sequence[Any]) -> str:
    return encode(list(values))


# (table, keys as entity_key strings, features, one Codec per feature or None for plain JSON)
Request = tuple[str, Sequence[str], Sequence[str], Sequence[Codec] | None]


def _as_dicts(requests, found: list[list[list[Any] | None]]) -> list[list[dict[str, Any] | None]]:
    return [
        [None if values is None else dict(zip(request[2], values, strict=True)) for values in rows]
        for request, rows in zip(requests, found, strict=True)
    ]


def _full(request: Sequence) -> Request:
    """A request with its codecs (plain JSON when a caller gave (table, keys, features) only)."""
    if len(request) == 4 and request[3] is not None:
        return request  # type: ignore[return-value]
    return (request[0], request[1], request[2], [GENERIC] * len(request[2]))


class OnlineStore(Protocol):
    uri: str  # without password: what the catalog records

    def write(self, table: str, keys: list[str], rows: list[dict[str, Any]]) -> None: ...

    def delete(self, table: str, keys: list[str]) -> None: ...

    def read(self, table: str, keys: list[str], features: Sequence[str]) -> list[dict[str, Any] | None]: ...

    def read_many(
        self, requests: Sequence[tuple[str, list[str], Sequence[str]]]
    ) -> list[list[dict[str, Any] | None]]:
        """``read`` of several (table, keys, features) at once (one round trip where the store can)."""
        ...

    def fetch(self, requests: Sequence[Request]) -> list[list[list[Any] | None]]:
        """Per request, per key: the features' values in order, decoded by their codecs (None for a
        key without a row); one round trip for all of them where the store can."""
        ...

    def key_reader(
        self, table: str, features: Sequence[str], codecs: Sequence[Codec]
    ) -> Callable[[str], list[Any] | None]:
        """``read(key)``: ``fetch`` of one key prepared once for a (table, features): the key's decoded
        values, None when it has no row."""
        ...

    def close(self) -> None: ...


def public_uri(uri: str) -> str:
    """``uri`` without its password (the catalog and the logs never hold one)."""
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    netloc = parts.hostname or ""
    if parts.username:
        netloc = f"{parts.username}@{netloc}"
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


class _Link:
    """One Redis connection for lookups: opened by redis-py (password, database, TLS as the URI
    says), then used directly: a packed buffer of commands written to its socket at once, the
    answers parsed by hiredis. redis-py's per-call machinery (health checks, its parser's
    buffer, command encoding) costs two thirds of a 10-feature lookup; without hiredis, its
    ``send_packed_command``/``read_response`` are used instead."""

    __slots__ = ("conn", "_sock", "_reader")

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self._sock = None
        self._reader = None

    def reset(self) -> None:
        self.conn.disconnect()
        self._sock = self._reader = None

    def call(self, packed: bytes, answers: int) -> list[Any]:
        sock = self._sock
        if sock is None:
            self.conn.connect()
            sock = self._sock = self.conn._sock
            self._reader = _hiredis.Reader() if _hiredis is not None else None
        reader = self._reader
        if reader is None:
            self.conn.send_packed_command((packed,), check_health=False)
            return [self.conn.read_response(disable_decoding=True) for _ in range(answers)]
        sock.sendall(packed)
        out: list[Any] = []
        while len(out) < answers:
            reply = reader.gets()
            if reply is False:  # incomplete: read more
                data = sock.recv(65536)
                if not data:
                    raise ConnectionError("Redis closed the connection")
                reader.feed(data)
            elif isinstance(reply, _hiredis.ReplyError):
                import redis

                raise redis.exceptions.ResponseError(str(reply))
            else:
                out.append(reply)
        return out


class RedisOnlineStore:
    def __init__(self, uri: str) -> None:
        import redis

        parts = urlsplit(uri)
        query = parse_qs(parts.query)
        self.prefix = query.pop("prefix", [DEFAULT_PREFIX])[0]
        self.uri = public_uri(uri)
        self._redis = redis.Redis.from_url(urlunsplit(parts._replace(query=urlencode(query, doseq=True))))
        self._pool = self._redis.connection_pool
        self._broken = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)
        self._idle: list[_Link] = []  # links for reads (list.pop/append are atomic: no lock)
        self._made: list[_Link] = []
        self._tails: dict[tuple[str, ...], tuple[bytes, bytes]] = {}  # features -> packed HMGET parts

    def _key(self, table: str, key: str) -> str:
        return f"{self.prefix}{table}:{key}"

    def write(self, table, keys, rows) -> None:
        for start in range(0, len(keys), CHUNK):
            pipe = self._redis.pipeline(transaction=False)
            for key, row in zip(keys[start : start + CHUNK], rows[start : start + CHUNK], strict=True):
                redis_key = self._key(table, key)
                pipe.delete(redis_key)
                pipe.hset(redis_key, mapping={k: encode_value(v) for k, v in row.items()})
            pipe.execute()

    def delete(self, table, keys) -> None:
        for start in range(0, len(keys), CHUNK):
            self._redis.delete(*[self._key(table, k) for k in keys[start : start + CHUNK]])

    def read(self, table, keys, features):
        return self.read_many([(table, keys, features)])[0]

    def read_many(self, requests):
        full = [_full(r) for r in requests]
        return _as_dicts(full, self.fetch(full))

    def _packed(self, features: Sequence[str]) -> tuple[bytes, bytes]:
        """The parts of ``HMGET <key> <features...>`` around the key, in Redis's wire format (cached)."""
        names = tuple(features)
        parts = self._tails.get(names)
        if parts is None:
            head = b"*%d\r\n$5\r\nHMGET\r\n" % (len(names) + 2)
            tail = b"".join(b"$%d\r\n%s\r\n" % (len(f), f) for f in (n.encode() for n in names))
            parts = self._tails[names] = (head, tail)
        return parts

    def _roundtrip(self, packed: bytes, answers: int) -> list[Any]:
        """Send ``packed`` (``answers`` commands) in one write and read every answer, on a pooled
        ``_Link``. A link that failed is dropped (it may hold unread answers); a broken one is
        retried once on a new connection."""
        for attempt in (0, 1):
            try:
                link = self._idle.pop()
            except IndexError:
                link = _Link(self._pool.make_connection())
                self._made.append(link)
            try:
                out = link.call(packed, answers)
            except self._broken:
                link.reset()
                self._idle.append(link)
                if attempt:
                    raise
                continue
            except BaseException:
                link.reset()
                self._idle.append(link)
                raise
            self._idle.append(link)
            return out
        raise AssertionError("unreachable")

    def key_reader(self, table, features, codecs):
        """``read(key)``: one key's decoded values, None when it has no row: one HMGET, its bytes
        prepared but for the key (then EXISTS only when every field is missing). All-float
        features are decoded in one ``map``."""
        head, tail = self._packed(features)
        base = f"{self.prefix}{table}:"
        decoders = [c.from_text for c in codecs]
        floats = all(d is float for d in decoders)
        roundtrip = self._roundtrip

        def read(key: str) -> list[Any] | None:
            name = (base + key).encode()
            values = roundtrip(b"%s$%d\r\n%s\r\n%s" % (head, len(name), name, tail), 1)[0]
            if floats:
                try:
                    return list(map(float, values))
                except (TypeError, ValueError):  # a None (missing field) or a JSON null
                    pass
            if values.count(None) == len(values):
                if not roundtrip(b"*2\r\n$6\r\nEXISTS\r\n$%d\r\n%s\r\n" % (len(name), name), 1)[0]:
                    return None
            return [None if v is None or v == b"null" else d(v) for v, d in zip(values, decoders, strict=True)]

        return read

    def fetch(self, requests):
        """One round trip for every (table, keys, features, codecs) request: the HMGETs of every key.
        A hash whose every requested field is missing may not exist: only those keys are checked
        (EXISTS), in a second round trip (a key that has no row, or features published before they
        existed)."""
        chunks: list[bytes] = []
        names: list[bytes] = []
        for table, keys, features, _ in requests:
            head, tail = self._packed(features)
            base = f"{self.prefix}{table}:"
            for key in keys:
                name = (base + key).encode()
                names.append(name)
                chunks.append(b"%s$%d\r\n%s\r\n%s" % (head, len(name), name, tail))
        if not chunks:
            return [[] for _ in requests]
        answers = self._roundtrip(b"".join(chunks), len(chunks))
        empty = [i for i, values in enumerate(answers) if all(v is None for v in values)]
        if empty:
            checks = b"".join(b"*2\r\n$6\r\nEXISTS\r\n$%d\r\n%s\r\n" % (len(names[i]), names[i]) for i in empty)
            for i, exists in zip(empty, self._roundtrip(checks, len(empty)), strict=True):
                if not exists:
                    answers[i] = None
        out, at = [], 0
        for _, keys, _, codecs in requests:
            decoders = [c.from_text for c in codecs]
            rows = []
            for values in answers[at : at + len(keys)]:
                if values is None:
                    rows.append(None)
                else:
                    rows.append([None if v is None or v == b"null" else d(v) for v, d in zip(values, decoders, strict=True)])
            out.append(rows)
            at += len(keys)
        return out

    def close(self) -> None:
        for link in self._made:
            link.conn.disconnect()
        self._made.clear()
        self._idle.clear()
        self._redis.close()


class SqlOnlineStore:
    def __init__(self, uri: str) -> None:
        from sqlalchemy import Column, MetaData, PrimaryKeyConstraint, String, Table, Text

        from modelyard.store.sql.engine import create_db_engine

        self.uri = public_uri(uri)
        self.engine = create_db_engine(uri)
        metadata = MetaData()
        self.table = Table(
            "modelyard_online_features", metadata,
            Column("table_name", String(256), nullable=False),
            Column("entity_key", String(500), nullable=False),
            Column("payload", Text, nullable=False),
            PrimaryKeyConstraint("table_name", "entity_key", name="pk_modelyard_online_features"),
            mysql_charset="utf8mb4", mysql_collate="utf8mb4_bin",
        )
        metadata.create_all(self.engine)

    def write(self, table, keys, rows) -> None:
        from sqlalchemy import delete, insert

        t = self.table
        with self.engine.begin() as conn:
            for start in range(0, len(keys), CHUNK):
                chunk = keys[start : start + CHUNK]
                conn.execute(delete(t).where(t.c.table_name == table, t.c.entity_key.in_(chunk)))
                conn.execute(insert(t), [
                    {"table_name": table, "entity_key": k, "payload": encode_value(r)}
                    for k, r in zip(chunk, rows[start : start + CHUNK], strict=True)
                ])

    def delete(self, table, keys) -> None:
        from sqlalchemy import delete

        t = self.table
        with self.engine.begin() as conn:
            for start in range(0, len(keys), CHUNK):
                conn.execute(delete(t).where(t.c.table_name == table, t.c.entity_key.in_(keys[start : start + CHUNK])))

    def read(self, table, keys, features):
        return self.read_many([(table, keys, features)])[0]

    def read_many(self, requests):
        full = [_full(r) for r in requests]
        return _as_dicts(full, self.fetch(full))

    def key_reader(self, table, features, codecs):
        return lambda key: self.fetch([(table, [key], features, codecs)])[0][0]

    def fetch(self, requests):
        from sqlalchemy import select

        t = self.table
        out = []
        with self.engine.connect() as conn:
            for table, keys, features, codecs in requests:
                found = dict(conn.execute(
                    select(t.c.entity_key, t.c.payload).where(t.c.table_name == table, t.c.entity_key.in_(list(keys)))
                ).all()) if keys else {}
                decoders = [c.from_json for c in codecs]
                rows: list[list[Any] | None] = []
                for key in keys:
                    payload = found.get(key)
                    if payload is None:
                        rows.append(None)
                        continue
                    row = json.loads(payload)
                    rows.append([None if (v := row.get(f)) is None else d(v) for f, d in zip(features, decoders, strict=True)])
                out.append(rows)
        return out

    def close(self) -> None:
        self.engine.dispose()


def open_store(uri: str) -> OnlineStore:
    scheme = urlsplit(uri).scheme.split("+", 1)[0].lower()
    if scheme in ("redis", "rediss", "unix"):
        return RedisOnlineStore(uri)
    if scheme in ("sqlite", "postgresql", "postgres", "mysql", "mariadb"):
        return SqlOnlineStore(uri)
    raise InvalidParameterValue(
        f"Unknown online store {public_uri(uri)!r}: use redis://host:port/db or a database URI (sqlite:///..., postgresql://...)"
    )


def keys_of(table: pa.Table, key_columns: Sequence[str]) -> list[str]:
    columns = [table.column(k).to_pylist() for k in key_columns]
    return [entity_key(values) for values in zip(*columns, strict=True)]
