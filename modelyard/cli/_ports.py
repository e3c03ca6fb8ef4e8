"""The port a server command will listen on, checked before the command announces anything."""

from __future__ import annotations

import errno
import socket

from modelyard.cli._context import CliError


def claim_port(host: str, port: int) -> int:
    """``port`` when it is free on ``host`` (a free one when 0); a one-line CliError when it is not.

    The socket is bound the way uvicorn binds it (SO_REUSEADDR), then released for uvicorn.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except socket.gaierror as exc:
            raise CliError(f"Cannot listen on {host!r}: {exc.strerror or exc} (check --host)") from exc
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise CliError(
                    f"port {port} is in use on {host}: stop what listens there, or pick another port "
                    "with --port (0 picks a free one)"
                ) from exc
            if exc.errno == errno.EACCES:
                raise CliError(f"port {port} needs more privileges on {host}: use a port above 1023") from exc
            raise CliError(f"Cannot listen on {host}:{port}: {exc.strerror or exc} (check --host)") from exc
        return sock.getsockname()[1]
