"""``modelyard models stream``: score a live stream with a model, each event's prediction written once.

SIGTERM (or Ctrl-C) stops it gracefully: the batches already read are scored, written and
acknowledged, then it exits 0.
"""

from __future__ import annotations

import asyncio
import gc
import signal

import click

from modelyard.cli._context import state


@click.command("stream")
@click.option("--model-uri", "-m", required=True, metavar="URI",
              help="models:/churn@champion (follows the alias: new versions load beside, then swap), "
                   "models:/churn/3, runs:/<id>/model, a folder...")
@click.option("--source", required=True, metavar="URI",
              help="redis://host:6379/0?stream=S&group=G | nats://host:4222?stream=S&durable=D | "
                   "amqp://user:pass@host:5672/%2f?queue=Q | file:///folder?format=parquet")
@click.option("--sink", required=True, metavar="URI",
              help="redis://...?stream=S | nats://...?subject=S | amqp://...?exchange=E | "
                   "postgresql://...?table=T (also mysql, sqlite) | parquet:///folder | delta:///table")
@click.option("--batch-size", default=1000, show_default=True, type=click.IntRange(1), help="Max events per micro-batch.")
@click.option("--max-wait-ms", default=0.0, show_default=True, type=click.FloatRange(0),
              help="Longest a free model waits for a non-full batch to fill (0: it scores what is ready at once; "
                   "more: fewer, larger sink writes at that much latency).")
@click.option("--max-retries", default=3, show_default=True, type=click.IntRange(1),
              help="Tries of a row the model fails on (and of a sink write) before giving up on it.")
@click.option("--dead-letter", metavar="URI", help="Where bad events go, with the reason and the original payload "
              "(any sink URI). Default: logged as errors and counted.")
@click.option("--metrics-port", type=click.IntRange(0, 65535), help="Serve /metrics and /health on this port (0: any).")
@click.option("--metrics-host", default="127.0.0.1", show_default=True, help="Address of /metrics and /health.")
@click.option("--consumers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="Consumers in this process (each its own member of the group). For more CPU, start more processes.")
@click.option("--id-field", metavar="NAME", help="Event field holding the event id (default: the broker's message id).")
@click.option("--passthrough", metavar="COL,...", default="", help="Event fields copied into each prediction.")
@click.option("--format", "fmt", type=click.Choice(["json", "parquet", "arrow"]), default="json", show_default=True,
              help="Message payload: one JSON event, or many rows per message as Parquet or Arrow IPC.")
@click.option("--poll-interval", default=2.0, show_default=True, type=click.FloatRange(0.05),
              help="Seconds between checks of a followed alias or stage.")
@click.option("--consumer-name", metavar="NAME", help="This consumer's name in its group (default: host-pid-random).")
def stream(model_uri: str, source: str, sink: str, batch_size: int, max_wait_ms: float, max_retries: int,
           dead_letter: str | None, metrics_port: int | None, metrics_host: str, consumers: int, id_field: str | None,
           passthrough: str, fmt: str, poll_interval: float, consumer_name: str | None) -> None:
    """Score the events of --source with the model; write each prediction once to --sink."""
    # A SIGTERM that comes while the model and the ends are still being set up (a consumer restarted
    # and stopped at once) is a request to stop, not a crash: remembered here, honoured once running.
    early: list[int] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda signum, _frame: early.append(signum))
    from modelyard.streaming.config import StreamConfig
    from modelyard.streaming.runner import StreamRunner

    tracking_uri = state().client().tracking_uri if model_uri.startswith(("models:", "runs:")) else None
    config = StreamConfig(
        model_uri=model_uri, source=source, sink=sink, dead_letter=dead_letter, batch_size=batch_size,
        max_wait_ms=max_wait_ms, max_retries=max_retries, metrics_port=metrics_port, metrics_host=metrics_host,
        id_field=id_field, passthrough=tuple(c.strip() for c in passthrough.split(",") if c.strip()), format=fmt,
        tracking_uri=tracking_uri, poll_interval=poll_interval, consumer_name=consumer_name,
    )
    runner = StreamRunner(config, consumers=consumers)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, runner.stop)
        if early:
            runner.stop()
        ready = loop.create_future()
        ready.add_done_callback(lambda f: f.cancelled() or f.exception() or _running(runner))
        await runner.run(ready)

    asyncio.run(main())
    click.echo("Stopped: every batch read was written and acknowledged.", err=True)


def _running(runner) -> None:
    # What is loaded now (the model, the libraries, the ends) lives as long as the process: frozen out
    # of the garbage collector's scans, so the collections that a stream's many small objects trigger
    # stay cheap (about a third of the CPU per event otherwise, measured with bench/streaming.py).
    # A batch's objects (a delivery, an event and its row per message) die with the batch: with the
    # default threshold (700 allocations) young collections kept scanning them while alive, about
    # 0.6 us per event (7% of the CPU, bench/_streaming_cpu.py); 50,000 lets them die first.
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, *gc.get_threshold()[1:])
    _announce(runner)


def _announce(runner) -> None:
    where = f"; /metrics and /health on port {runner.metrics_port}" if runner.metrics_port is not None else ""
    click.echo(f"Streaming with model version {runner.scorer.version}{where}", err=True)
