"""Task functions the job tests run (imported by the task processes, found through PYTHONPATH)."""

import os
import subprocess
import sys
import time

from modelyard.jobs import task_value


def build(days=90):
    sys.stdout.write(f"building {days} days\n")
    return {"rows": days * 10}


def train(lr=0.1):
    import modelyard

    rows = task_value("build")["rows"]
    with modelyard.start_run():
        modelyard.log_metric("rows", rows)
    return {"trained_on": rows, "lr": lr}


def fail_until(marker, succeed_on=2):
    """Fails until it has been called ``succeed_on`` times (counted in the file ``marker``)."""
    count = int(open(marker).read()) + 1 if os.path.exists(marker) else 1
    with open(marker, "w") as f:
        f.write(str(count))
    if count < succeed_on:
        raise RuntimeError(f"attempt {count} fails")
    return count


def always_fail():
    raise ValueError("this task always fails")


def sleep_with_child(pidfile, seconds=60):
    """Starts a grandchild and sleeps: a timeout must kill both."""
    child = subprocess.Popen([sys.executable, "-c", f"import time; time.sleep({seconds})"])
    with open(pidfile, "w") as f:
        f.write(f"{os.getpid()} {child.pid}")
    time.sleep(seconds)


def noop():
    return None


def slow_first_time(marker, seconds=60):
    """The first attempt hangs (its worker gets killed); later ones return at once."""
    first = not os.path.exists(marker)
    with open(marker, "a") as f:
        f.write(f"{os.getpid()}\n")
    if first:
        time.sleep(seconds)
    return "done"


def whoami():
    import os

    return {"pid": os.getpid(), "ppid": os.getppid(), "pgid": os.getpgid(0), "env_marker": os.environ.get("JOBS_TEST_MARKER")}
