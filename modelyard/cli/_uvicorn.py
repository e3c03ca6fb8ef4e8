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


def run(factory: Callable[[], Any], workers: int, *, fork: bool = False, **options: Any) -> None:
    """Serve ``factory()``'s app with ``workers`` processes (forked when ``fork`` and possible)."""
    import uvicorn

    config = uvicorn.Config(factory, factory=True, workers=workers, **options)
    if workers > 1 and fork:
        from modelyard.server import prefork

        if prefork.available():
            raise SystemExit(prefork.run(config, workers))
    if workers > 1:
        from uvicorn.supervisors import Multiprocess

        sock = config.bind_socket()
        Multiprocess(config, sockets=[sock]).run()
        return
    server = uvicorn.Server(config)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    if not server.started:
        sys.exit(3)  # uvicorn's STARTUP_FAILURE
