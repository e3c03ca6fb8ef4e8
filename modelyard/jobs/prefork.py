"""The warm task runner: a Python process with modelyard imported that forks one child per
``module:function`` task, so a task does not pay for the interpreter's start-up and imports.

The supervisor (the local executor or a Celery worker) starts it once (on first use) and talks to
it over its stdin/stdout, one JSON object a line: ``{"id", "ctx", "log", "env"}`` asks for a task
process; the answer ``{"id", "pid"}`` (or ``{"id", "error"}``) comes at once and
``{"pid", "code"}`` when that process ended (its exit code; ``-N`` for signal N, like ``Popen``).
The child starts a session of its own (so a timeout or a cancel kills its whole process tree,
``killpg``), writes its stdout and stderr to the log file, takes the task's environment (with its
``PYTHONPATH`` put in front of ``sys.path``) and runs ``child.run_task``. It dies with the runner
(``PR_SET_PDEATHSIG``) and the runner with its supervisor (stdin at end of file: it kills its
children's process groups and exits). The runner is single-threaded, so forking it is safe.

Commands (``run: [...]``) are not forked: they are exec'd as before (``jobs/kinds.py``).
"""

from __future__ import annotations

import atexit
import importlib
import json
import logging
import os
import selectors
import signal
import subprocess
import sys
import threading
from typing import Any

from modelyard.settings import become_environment

logger = logging.getLogger(__name__)

# Imported once in the runner, so tasks start with them loaded (what a task typically uses).
PRELOAD = ("modelyard.jobs.child", "modelyard.jobs.context", "modelyard.tracking.fluent")


class RunnerDied(RuntimeError):
    pass


class ForkedProcess:
    """A task process forked by the runner, with the part of ``Popen``'s shape the supervisor uses."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self._done = threading.Event()

    def _end(self, code: int) -> None:
        self.returncode = code
        self._done.set()

    def poll(self) -> int | None:
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if not self._done.wait(timeout):
            raise subprocess.TimeoutExpired(f"pid {self.pid}", timeout)
        return self.returncode  # type: ignore[return-value]


class PreforkRunner:
    """The supervisor's handle on the warm runner process (started on the first ``spawn``)."""

    def __init__(self, env: dict[str, str] | None = None, preload: tuple[str, ...] = PRELOAD) -> None:
        self.env, self.preload = env, preload
        self._proc: subprocess.Popen | None = None
        self._lock = threading.Lock()
        self._next = 0
        self._pending: dict[int, list[Any]] = {}  # request id -> [event, pid or error]
        self._procs: dict[int, ForkedProcess] = {}  # pid -> process
        self._early: dict[int, int] = {}  # pid -> code, an end read before the pid's answer

    @property
    def pid(self) -> int | None:
        """The runner process's pid (None until the first task started it)."""
        proc = self._proc
        return proc.pid if proc is not None else None

    def _start(self) -> subprocess.Popen:
        proc = subprocess.Popen(
            [sys.executable, "-m", "modelyard.jobs.prefork", *self.preload],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=self.env, close_fds=True,
        )
        threading.Thread(target=self._read, args=(proc,), name="modelyard-prefork-reader", daemon=True).start()
        return proc

    def _read(self, proc: subprocess.Popen) -> None:
        for line in proc.stdout:  # type: ignore[union-attr]
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            with self._lock:
                if "id" in msg:
                    slot = self._pending.pop(msg["id"], None)
                    if slot is not None:
                        slot[1] = msg
                        slot[0].set()
                elif "pid" in msg:
                    fp = self._procs.pop(msg["pid"], None)
                    if fp is not None:
                        fp._end(msg["code"])
                    else:
                        self._early[msg["pid"]] = msg["code"]
        # the runner ended: its children died with it (PDEATHSIG)
        proc.wait()
        with self._lock:
            if self._proc is proc:
                self._proc = None
            for slot in self._pending.values():
                slot[1] = {"error": "the task runner process ended"}
                slot[0].set()
            self._pending.clear()
            for fp in self._procs.values():
                fp._end(-signal.SIGKILL)
            self._procs.clear()

    def start(self) -> PreforkRunner:
        """Start the runner now (else the first task does), so even the first task finds it warm."""
        with self._lock:
            if self._proc is None or self._proc.poll() is not None:
                self._proc = self._start()
        return self

    def spawn(self, ctx: dict[str, Any], log_path: str, env: dict[str, str], timeout_s: float = 30.0) -> ForkedProcess:
        """Fork a task process running ``ctx`` (see ``child.run_task``); raises RunnerDied."""
        event = threading.Event()
        with self._lock:
            if self._proc is None or self._proc.poll() is not None:
                self._proc = self._start()
            proc = self._proc
            self._next += 1
            request_id = self._next
            slot: list[Any] = [event, None]
            self._pending[request_id] = slot
            try:
                proc.stdin.write((json.dumps({"id": request_id, "ctx": ctx, "log": log_path, "env": env}) + "\n").encode())  # type: ignore[union-attr]
                proc.stdin.flush()  # type: ignore[union-attr]
            except (BrokenPipeError, OSError) as exc:
                self._pending.pop(request_id, None)
                raise RunnerDied(f"the task runner process is gone: {exc}") from None
        if not event.wait(timeout_s):
            raise RunnerDied("the task runner did not answer")
        answer = slot[1]
        if "error" in answer:
            raise RunnerDied(answer["error"])
        fp = ForkedProcess(answer["pid"])
        with self._lock:
            code = self._early.pop(fp.pid, None)
            if code is None:
                self._procs[fp.pid] = fp
        if code is not None:
            fp._end(code)
        return fp

    def close(self) -> None:
        with self._lock:
            proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            try:
                proc.stdin.close()  # type: ignore[union-attr]
                proc.wait(5)
            except (OSError, subprocess.TimeoutExpired):
                proc.kill()


_shared: PreforkRunner | None = None
_shared_pid = 0
_shared_lock = threading.Lock()


def shared(env: dict[str, str]) -> PreforkRunner:
    """This process's runner (one per supervisor process, closed at exit; a process forked from
    a supervisor gets a runner of its own, never its parent's pipe)."""
    global _shared, _shared_pid
    with _shared_lock:
        if _shared is None or _shared_pid != os.getpid():
            _shared, _shared_pid = PreforkRunner(env), os.getpid()
            atexit.register(_shared.close)
        return _shared


# -- the runner process ---------------------------------------------------------------------------
def _child(request: dict[str, Any]) -> int:
    """In the forked child: become the task's process and run it."""
    os.setsid()
    fd = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_DFL if sig != signal.SIGINT else signal.default_int_handler)
    signal.set_wakeup_fd(-1)
    sys.stdout = open(1, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False)
    sys.stderr = open(2, "w", buffering=1, encoding="utf-8", errors="replace", closefd=False)
    env = request["env"]
    become_environment(env)
    for entry in reversed([p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]):
        sys.path.insert(0, entry)
    importlib.invalidate_caches()
    os.chdir(request["ctx"]["cwd"])
    from modelyard.jobs import child

    return child.run_task(request["ctx"])


def serve(preload: list[str]) -> None:
    for name in preload:
        try:
            importlib.import_module(name)
        except Exception as exc:  # a missing optional dependency: tasks import what they need
            sys.stderr.write(f"modelyard task runner: could not preload {name}: {exc}\n")
    from modelyard.jobs import child

    child._libc()  # what every task calls first: loaded once, here
    out = sys.stdout.buffer
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C to the terminal's group is the supervisor's to handle
    sel = selectors.DefaultSelector()
    stdin = sys.stdin.buffer.fileno()
    sel.register(stdin, selectors.EVENT_READ)
    sel.register(wake_r, selectors.EVENT_READ)
    children: set[int] = set()
    buf = b""

    def send(msg: dict[str, Any]) -> None:
        out.write((json.dumps(msg) + "\n").encode())
        out.flush()

    def reap() -> None:
        while children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            children.discard(pid)
            send({"pid": pid, "code": os.waitstatus_to_exitcode(status)})

    while True:
        for key, _ in sel.select():
            if key.fd == wake_r:
                try:
                    while os.read(wake_r, 512):
                        pass
                except BlockingIOError:
                    pass
                reap()
                continue
            data = os.read(stdin, 65536)
            if not data:  # the supervisor is gone: so are its tasks
                for pid in children:
                    try:
                        os.killpg(pid, signal.SIGKILL)
                    except OSError:
                        pass
                return
            buf += data
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                request = json.loads(line)
                out.flush()
                try:
                    pid = os.fork()
                except OSError as exc:
                    send({"id": request["id"], "error": f"fork failed: {exc}"})
                    continue
                if pid == 0:
                    code = 1
                    try:
                        sel.close()
                        os.close(wake_r)
                        os.close(wake_w)
                        code = _child(request)
                    except SystemExit as exc:
                        code = exc.code if isinstance(exc.code, int) else 1
                    except BaseException:
                        import traceback

                        traceback.print_exc()
                    finally:
                        try:
                            sys.stdout.flush()
                            sys.stderr.flush()
                        finally:
                            os._exit(code)
                children.add(pid)
                send({"id": request["id"], "pid": pid})
        reap()


if __name__ == "__main__":
    serve(sys.argv[1:])
