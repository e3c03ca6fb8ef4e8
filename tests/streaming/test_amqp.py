"""RabbitMQ -> PostgreSQL table / RabbitMQ exchange against the real servers, and kill -9 on RabbitMQ."""

from __future__ import annotations

import orjson
import pytest
from sqlalchemy import create_engine, text
from stream_helpers import AMQP_URL, Consumers, event, run_until, wait_until

from modelyard.streaming.config import StreamConfig
from modelyard.streaming.runner import StreamRunner


def _rows(db_uri: str, table: str) -> list:
    engine = create_engine(db_uri.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as conn:
            return conn.execute(text(f'SELECT event_id, model_version, prediction, scored_at FROM "{table}"')).all()
    except Exception:
        return []
    finally:
        engine.dispose()


def _count(db_uri: str, table: str) -> int:
    engine = create_engine(db_uri.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as conn:
            return conn.execute(text(f'SELECT count(*) FROM "{table}"')).scalar_one()
    except Exception:  # not created yet
        return 0
    finally:
        engine.dispose()


def test_rabbitmq_events_are_scored_into_a_postgres_table(rabbit, name, module_postgres_uri, model_dir, estimators, data):
    rabbit.queue(name)
    rows = data.head(25)
    ids = [f"m-{i}" for i in range(25)]
    rabbit.publish(name, [orjson.dumps(r) for r in rows.to_dict("records")], ids)
    table = name.replace("-", "_")
    runner = StreamRunner(StreamConfig(str(model_dir), f"{AMQP_URL}?queue={name}", f"{module_postgres_uri}?table={table}",
                                       batch_size=10))
    run_until(runner, lambda: len(_rows(module_postgres_uri, table)) >= 25)
    stored = _rows(module_postgres_uri, table)
    assert {r.event_id: r.prediction for r in stored} == dict(zip(ids, estimators[0].predict(rows).tolist(), strict=True))
    assert {r.model_version for r in stored} == {runner.scorer.version}
    assert all(r.scored_at is not None for r in stored)
    assert rabbit.depth(name) == 0  # all acknowledged


def test_predictions_go_to_an_exchange_with_the_event_id_as_message_id(rabbit, name, model_dir, data):
    rabbit.queue(name)
    rabbit.queue(f"{name}-out")
    rabbit.exchanges.append(f"{name}-x")
    rabbit.publish(name, [orjson.dumps(r) for r in data.head(5).to_dict("records")], [f"e{i}" for i in range(5)])

    async def bind():
        exchange = await rabbit.channel.declare_exchange(f"{name}-x", "direct", durable=True)
        queue = await rabbit.channel.declare_queue(f"{name}-out", durable=True)
        await queue.bind(exchange, routing_key="p")
    rabbit._run(bind())
    sink = f"{AMQP_URL}?exchange={name}-x&routing-key=p"
    run_until(StreamRunner(StreamConfig(str(model_dir), f"{AMQP_URL}?queue={name}", sink)),
              lambda: rabbit.depth(f"{name}-out") >= 5)

    async def drain():
        queue = await rabbit.channel.declare_queue(f"{name}-out", durable=True)
        got = []
        while (message := await queue.get(fail=False)) is not None:
            await message.ack()
            got.append((message.message_id, orjson.loads(message.body)))
        return got
    got = rabbit._run(drain())
    assert sorted(mid for mid, _ in got) == [f"e{i}" for i in range(5)]
    assert all(body["event_id"] == mid and "prediction" in body for mid, body in got)


@pytest.mark.slow
def test_kill_9_loses_and_doubles_nothing_on_rabbitmq(rabbit, name, module_postgres_uri, model_dir, tmp_path):
    total = 5_000
    rabbit.queue(name)
    rabbit.publish(name, [event(i, (i % 97) / 50) for i in range(total)], [f"m-{i}" for i in range(total)])
    table = name.replace("-", "_")
    args = ["models", "stream", "-m", str(model_dir), "--batch-size", "200",
            "--source", f"{AMQP_URL}?queue={name}", "--sink", f"{module_postgres_uri}?table={table}"]
    consumers = Consumers(args, tmp_path)
    try:
        for kill in range(3):
            wait_until(lambda k=kill: _count(module_postgres_uri, table) >= (k + 1) * total // 5, timeout=180,
                       what=f"progress before kill {kill + 1}")
            consumers.kill_and_replace(kill % 2)
        wait_until(lambda: _count(module_postgres_uri, table) >= total and rabbit.depth(name) == 0, timeout=300,
                   what="every event scored")
        consumers.wait_running()
    finally:
        codes = consumers.stop()
    assert codes == [0, 0], consumers.tails()
    assert sorted(r.event_id for r in _rows(module_postgres_uri, table)) == sorted(f"m-{i}" for i in range(total))
