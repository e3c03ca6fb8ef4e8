"""Run an app factory with uvicorn, in this process or in worker processes, settings included.

The factory is a picklable callable that already carries the ``Settings`` object
(``functools.partial(create_app, settings)``), so no worker reads flags back from ``os.environ``:
forked workers (``modelyard.server.prefork``) inherit it, and uvicorn's spawned workers receive it
pickled inside uvicorn's ``Config``, which its supervisor sends to every child.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from modelyard.web.http_limits import HttpLimits, server_config


def run(
    factory: Callable[[], Any],
    workers: int,
    limits: HttpLimits,
    *,
    fork: bool = False,
    on_worker_exit: Callable[[int], None] | None = None,
    **options: Any,
) -> None:
    """Serve ``factory()``'s app with ``workers`` processes (forked when ``fork`` and possible), each
    connection under ``limits`` (``modelyard.web.http_limits``); ``on_worker_exit(pid)`` is called in
    the parent when a forked worker exits."""

    config = server_config(factory, limits, factory=True, workers=workers, **options)
    if workers > 1 and fork:
        from modelyard.server import prefork

        if prefork.available():
            raise SystemExit(prefork.run(config, workers, on_worker_exit))
    if workers > 1:
        from uvicorn.supervisors import Multiprocess

        sock = config.bind_socket()
        Multiprocess(config, sockets=[sock]).run()
        return
    serve(config)


def serve(config: Any) -> None:
    """Serve a ``uvicorn.Config`` in this process (Ctrl-C stops it; a failed start exits 3)."""
    import uvicorn

    server = uvicorn.Server(config)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    if not server.started:
        sys.exit(3)  # uvicorn's STARTUP_FAILURE
