"""Service fixtures shared by every test package.

``postgres_uri`` and ``mysql_uri`` give a test session its own, freshly created database
on the local PostgreSQL / MariaDB server (dropped at the end of the session), so parallel
sessions and pytest-xdist workers never see each other's rows. When a server does not
answer, the tests that need it skip and say why; with ``MODELYARD_REQUIRE_SERVICES=1`` (CI)
they fail instead.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.pool import NullPool

from modelyard.store.sql.engine import normalize_db_uri

# Servers to create the per-session databases on (a database that already exists there).
SERVERS = {
    "postgresql": os.environ.get("MODELYARD_TEST_POSTGRES_URI", "postgresql://postgres@127.0.0.1:5432/test"),
    "mysql": os.environ.get("MODELYARD_TEST_MYSQL_URI", "mysql://root@127.0.0.1:3306/test"),
}
CONNECT_TIMEOUT_S = 3


def services_required() -> bool:
    return os.environ.get("MODELYARD_REQUIRE_SERVICES", "") not in ("", "0", "false", "no")


def service_unavailable(reason: str) -> None:
    """Skip the test (a laptop without the service), or fail it when CI requires services."""
    if services_required():
        pytest.fail(f"{reason} (MODELYARD_REQUIRE_SERVICES is set)", pytrace=False)
    pytest.skip(reason)


def _admin_engine(kind: str) -> Engine:
    uri = normalize_db_uri(SERVERS[kind])
    connect_args = {"connect_timeout": CONNECT_TIMEOUT_S}
    return create_engine(uri, isolation_level="AUTOCOMMIT", poolclass=NullPool, connect_args=connect_args)


def _fresh_database(kind: str) -> Iterator[str]:
    name = f"modelyard_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = _admin_engine(kind)
        with admin.connect() as conn:
            if kind == "postgresql":
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            else:
                conn.execute(text(f"CREATE DATABASE `{name}`"))  # server defaults, as a user's would be
    except Exception as exc:  # the server is down, refuses us, or the driver is missing
        server = make_url(SERVERS[kind]).render_as_string()  # password hidden
        service_unavailable(f"{kind} server at {server} is not available: {str(exc).splitlines()[0]}")
    url = make_url(SERVERS[kind]).set(database=name)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            if kind == "postgresql":
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            else:
                conn.execute(text(f"DROP DATABASE IF EXISTS `{name}`"))
        admin.dispose()


@pytest.fixture(scope="session")
def postgres_uri() -> Iterator[str]:
    """URI of an empty PostgreSQL database that lives for this test session."""
    yield from _fresh_database("postgresql")


@pytest.fixture(scope="session")
def mysql_uri() -> Iterator[str]:
    """URI of an empty MariaDB/MySQL database that lives for this test session."""
    yield from _fresh_database("mysql")


@pytest.fixture
def fresh_postgres_uri() -> Iterator[str]:
    """URI of an empty PostgreSQL database of this test's own (for servers started by a test)."""
    yield from _fresh_database("postgresql")


@pytest.fixture
def fresh_mysql_uri() -> Iterator[str]:
    """URI of an empty MariaDB/MySQL database of this test's own."""
    yield from _fresh_database("mysql")


@pytest.fixture(scope="module")
def module_postgres_uri() -> Iterator[str]:
    """URI of an empty PostgreSQL database of one test module's own."""
    yield from _fresh_database("postgresql")


@pytest.fixture(scope="module")
def module_mysql_uri() -> Iterator[str]:
    """URI of an empty MariaDB/MySQL database of one test module's own."""
    yield from _fresh_database("mysql")
