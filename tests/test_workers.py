"""The one background-work abstraction (``modelyard.workers.Worker``) and who owns its lifecycle."""

import threading

import pytest

from modelyard.workers import Worker


def _names() -> set[str]:
    return {t.name for t in threading.enumerate()}


def test_start_wake_and_stop_join_the_thread():
    rounds = threading.Semaphore(0)
    worker = Worker("test-worker-wake", lambda: rounds.release(), interval=None)  # sleeps until woken
    assert not worker.is_alive()
    worker.start()
    assert rounds.acquire(timeout=10)  # the first round runs at start
    worker.wake()
    assert rounds.acquire(timeout=10)  # and one more per wake
    assert worker.is_alive() and "test-worker-wake" in _names()
    assert worker.stop(timeout=10) is True
    assert not worker.is_alive() and "test-worker-wake" not in _names()


def test_a_failing_round_is_logged_and_the_worker_carries_on(caplog):
    calls: list[int] = []
    done = threading.Event()

    def step():
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("boom")
        done.set()
        return None

    worker = Worker("test-worker-error", step, interval=None, error_wait=0).start()
    assert done.wait(10)
    worker.stop(timeout=10)
    assert len(calls) >= 2
    assert any("test-worker-error" in r.getMessage() and r.exc_info for r in caplog.records)


def test_stop_runs_on_stop_on_the_worker_thread_after_the_last_round():
    seen: list[str] = []
    worker = Worker(
        "test-worker-final", lambda: None, interval=None, on_stop=lambda: seen.append(threading.current_thread().name)
    )
    worker.start()
    worker.stop(timeout=10)
    assert seen == ["test-worker-final"]
    worker.start()  # a stopped worker starts again
    assert worker.stop(timeout=10) and seen == ["test-worker-final", "test-worker-final"]


def test_the_server_app_starts_its_workers_only_in_its_lifespan(tmp_path):
    import asyncio

    from modelyard.server.app import create_app
    from modelyard.server.services import Services
    from modelyard.settings import Settings

    settings = Settings.defaults(
        backend_store_uri=f"sqlite:///{tmp_path / 'db.sqlite'}", artifacts_destination=str(tmp_path / "a")
    )
    before = _names()
    services = Services.from_settings(settings)
    app = create_app(settings, services)
    assert "modelyard-webhook-dispatcher" not in _names() - before
    assert not services.webhooks.worker.is_alive()

    async def lifespan():
        async with app.router.lifespan_context(app):
            assert services.webhooks.worker.is_alive()
        assert not services.webhooks.worker.is_alive()

    asyncio.run(lifespan())


def test_the_scoring_app_starts_its_workers_only_in_its_lifespan(tmp_path):
    import asyncio

    pytest.importorskip("sklearn")
    from modelyard.serving import create_scoring_app
    from modelyard.serving.config import ServeConfig, parse_models

    config = ServeConfig(models=parse_models([str(tmp_path / "no-model")]), inference_log=str(tmp_path / "log"))
    app = create_scoring_app(config)
    service = app.state.service
    assert not service.slots.worker.is_alive() and service.inference_log is None

    async def lifespan():
        async with app.router.lifespan_context(app):
            assert service.slots.worker.is_alive() and service.inference_log.worker.is_alive()
        assert not service.slots.worker.is_alive() and not service.inference_log.worker.is_alive()

    asyncio.run(lifespan())
