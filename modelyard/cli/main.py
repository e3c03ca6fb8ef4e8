"""The ``modelyard`` command: root group, global options, logging and the one error boundary.

Subcommand groups are listed in ``COMMANDS`` as ``name -> "module:attribute"`` and
imported only when used (or when ``--help`` lists them); nothing heavy is imported
until a command runs.

Errors: a ModelyardError (or a usage mistake, or an OS error such as a missing file)
becomes one red ``Error: ...`` line on stderr with exit code 1 (2 for usage); an
unexpected exception too, unless ``--debug`` asks for the traceback.
"""

from __future__ import annotations

import contextlib
import errno
import logging
from collections.abc import Iterator
from typing import Any

import click

from modelyard import __version__
from modelyard.cli._context import CliError, CliState
from modelyard.exceptions import ModelyardError

COMMANDS: dict[str, str] = {
    "artifacts": "modelyard.cli.artifacts:artifacts",
    "audit": "modelyard.cli.auth:audit",
    "automl": "modelyard.cli.automl:automl",
    "db": "modelyard.cli.db:db",
    "experiments": "modelyard.cli.experiments:experiments",
    "features": "modelyard.cli.features:features",
    "jobs": "modelyard.cli.jobs:jobs",
    "models": "modelyard.cli.models:models",
    "retrain": "modelyard.cli.retrain:retrain",
    "runs": "modelyard.cli.runs:runs",
    "scheduler": "modelyard.cli.scheduler:scheduler",
    "server": "modelyard.cli.server:server",
    "tokens": "modelyard.cli.auth:tokens",
    "ui": "modelyard.cli.server:server",
    "users": "modelyard.cli.auth:users",
    "worker": "modelyard.cli.scheduler:worker",
}

LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"


def translate(exc: BaseException, debug: bool = False) -> BaseException:
    """The exception click should see for ``exc``: a CliError, or ``exc`` itself to propagate."""
    if isinstance(exc, CliError | click.exceptions.Exit | click.Abort | KeyboardInterrupt | EOFError):
        return exc
    if isinstance(exc, click.UsageError):
        hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
        return CliError(exc.format_message() + hint, exit_code=2)
    if isinstance(exc, click.ClickException):
        return CliError(exc.format_message(), exit_code=exc.exit_code)
    if isinstance(exc, ModelyardError):
        return CliError(str(exc))
    if isinstance(exc, OSError) and exc.errno != errno.EPIPE:
        where = f": {exc.filename}" if exc.filename else ""
        return CliError(f"{exc.strerror or exc}{where}")
    if isinstance(exc, Exception) and not isinstance(exc, OSError) and not debug:
        return CliError(
            f"INTERNAL_ERROR: {type(exc).__name__}: {exc} (run 'modelyard --debug ...' for the traceback)"
        )
    return exc


class RootGroup(click.Group):
    """Lazily loaded subcommands, and the error boundary of the whole command line."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*COMMANDS, *self.commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        dotted = COMMANDS.get(cmd_name)
        if dotted is None:
            return None
        from modelyard.plugins import load_object

        return load_object(dotted)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """Each command's whole summary (click cuts them at the terminal width with '...'); long ones wrap."""
        rows = []
        for name in self.list_commands(ctx):
            cmd = self.get_command(ctx, name)
            if cmd is not None and not cmd.hidden:
                rows.append((name, cmd.get_short_help_str(limit=1_000)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def make_context(
        self, info_name: str | None, args: list[str], parent: click.Context | None = None, **extra: Any
    ):
        try:
            return super().make_context(info_name, args, parent, **extra)
        except Exception as exc:
            translated = translate(exc)
            if translated is exc:
                raise
            raise translated from exc

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except Exception as exc:
            translated = translate(exc, debug=isinstance(ctx.obj, CliState) and ctx.obj.debug)
            if translated is exc:
                raise
            raise translated from exc  # the cause is kept for tests, never printed


class _EchoHandler(logging.Handler):
    """Log records to whatever ``sys.stderr`` is at the time (click's runner swaps it)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            click.echo(self.format(record), err=True)
        except Exception:
            self.handleError(record)


@contextlib.contextmanager
def _logging(level: int) -> Iterator[None]:
    """Log modelyard's records to stderr during one invocation, then put things back.

    Only the CLI configures logging; the library adds no handlers.
    """
    logger = logging.getLogger("modelyard")
    handler = _EchoHandler(level)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(level)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


@click.group("modelyard", cls=RootGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="modelyard", message="%(prog)s %(version)s")
@click.option(
    "--tracking-uri",
    metavar="URI",
    help="Tracking database or server (sqlite:///path.db, postgresql://..., http://host:port). "
    "Default: $MODELYARD_TRACKING_URI, else sqlite:///modelyard.db in the working directory.",
)
@click.option("--verbose", "-v", count=True, help="Log more: -v for INFO, -vv for DEBUG.")
@click.option("--debug", is_flag=True, help="Show tracebacks of unexpected errors, and DEBUG logs.")
@click.pass_context
def cli(ctx: click.Context, tracking_uri: str | None, verbose: int, debug: bool) -> None:
    """modelyard: track experiments and runs, MLflow-compatible."""
    ctx.obj = CliState(tracking_uri=tracking_uri, debug=debug)
    level = logging.DEBUG if debug or verbose >= 2 else logging.INFO if verbose == 1 else logging.WARNING
    ctx.with_resource(_logging(level))


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="modelyard")


if __name__ == "__main__":  # pragma: no cover
    main()
