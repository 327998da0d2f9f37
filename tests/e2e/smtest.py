"""Helpers for the end-to-end tests: paths, processes, waiting with deadlines.

Every wait here polls for an event with a deadline; nothing sleeps for a
fixed time to let something happen.
"""
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import time

SKIP = 77

top_builddir = os.environ.get("top_builddir") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
top_srcdir = os.environ.get("top_srcdir") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
SMARTMETER = os.path.join(top_builddir, "smartmeter")

_checks = {"passed": 0, "failed": 0}


def check(cond, what):
    """Record one check; print it."""
    if cond:
        _checks["passed"] += 1
        print("ok   " + what, flush=True)
    else:
        _checks["failed"] += 1
        print("FAIL " + what, flush=True)
    return cond


def finish():
    """Print the summary line and exit with the status automake expects."""
    print("%d passed, %d failed" % (_checks["passed"], _checks["failed"]), flush=True)
    sys.exit(1 if _checks["failed"] else 0)


def skip(why):
    print("SKIP: " + why, flush=True)
    sys.exit(SKIP)


def tmpdir(prefix):
    return tempfile.mkdtemp(prefix="sm-%s-" % prefix)


def wait_for(pred, timeout, step=0.02):
    """Poll pred() until it is true or timeout seconds pass; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(step)


class Proc:
    """A child process whose stdout and stderr are collected line by line
    without blocking (a selector drains both pipes)."""

    def __init__(self, argv, stdin=subprocess.DEVNULL, env=None, cwd=None):
        self.argv = argv
        self.p = subprocess.Popen(argv, stdin=stdin, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, env=env, cwd=cwd)
        self.out = []
        self.err = []
        self._partial = {"out": b"", "err": b""}
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.p.stdout, selectors.EVENT_READ, "out")
        self.sel.register(self.p.stderr, selectors.EVENT_READ, "err")

    def pump(self, timeout=0.0):
        """Read whatever is available within timeout seconds."""
        for key, _ in self.sel.select(timeout):
            data = os.read(key.fileobj.fileno(), 65536)
            name = key.data
            if not data:
                self.sel.unregister(key.fileobj)
                if self._partial[name]:
                    getattr(self, name).append(self._partial[name].decode("utf-8", "replace"))
                    self._partial[name] = b""
                continue
            buf = self._partial[name] + data
            *lines, rest = buf.split(b"\n")
            self._partial[name] = rest
            getattr(self, name).extend(l.decode("utf-8", "replace") for l in lines)

    def wait_lines(self, pred, timeout):
        """Pump until pred(self) is true or the deadline passes."""
        deadline = time.monotonic() + timeout
        while True:
            if pred(self):
                return True
            left = deadline - time.monotonic()
            if left <= 0 or (self.p.poll() is not None and not self.sel.get_map()):
                return pred(self)
            self.pump(min(left, 0.1))

    def stop(self, sig=signal.SIGTERM, timeout=5.0):
        """Send sig and wait, draining the pipes meanwhile (a child that
        logs on its way out never blocks on a full pipe); kill it after
        timeout seconds.  Returns (exit code, seconds it took).  The time
        each line arrived from then on is in self.stop_lines as
        (seconds since the signal, stream, line)."""
        t0 = time.monotonic()
        marks = {"out": len(self.out), "err": len(self.err)}
        self.stop_lines = []

        def note():
            now = time.monotonic() - t0
            for name in ("out", "err"):
                lines = getattr(self, name)
                self.stop_lines.extend((now, name, l) for l in lines[marks[name]:])
                marks[name] = len(lines)

        if self.p.poll() is None:
            self.p.send_signal(sig)
        deadline = t0 + timeout
        while self.p.poll() is None and time.monotonic() < deadline:
            if self.sel.get_map():
                self.pump(0.005)
            else:
                time.sleep(0.005)
            note()
        if self.p.poll() is None:
            self.p.kill()
        self.p.wait()
        took = time.monotonic() - t0
        self.pump(0)
        while self.sel.get_map():
            self.pump(0.05)
        note()
        return self.p.returncode, took

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()


def simulator(link, fixture=None, period="0.2", extra=()):
    """Start `smartmeter simulate -p dsmr` on a pty linked at link; wait for the link."""
    argv = [SMARTMETER, "simulate", "-p", "dsmr", "--link", link, "--period", period]
    if fixture:
        argv += ["--fixture", fixture]
    argv += list(extra)
    sim = Proc(argv)
    if not wait_for(lambda: os.path.islink(link), 5.0):
        sim.kill()
        sim.pump(0)
        raise RuntimeError("simulator did not create %s: %s" % (link, sim.err))
    return sim


def free_port(kind=None):
    """A port on 127.0.0.1 free right now (TCP, or kind=socket.SOCK_DGRAM)."""
    import socket
    s = socket.socket(socket.AF_INET, kind or socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def modbus_simulator(link, meters, extra=()):
    """Start `smartmeter simulate -p modbus` with these --meter arguments on a
    pty linked at link; wait for the link and its register image.  Returns
    (proc, values) with values[slave][name] = {"unit": ..., "value": ...}."""
    import json
    values_path = link + ".values"
    argv = [SMARTMETER, "simulate", "-p", "modbus", "--link", link, "--values", values_path]
    for m in meters:
        argv += ["--meter", m]
    sim = Proc(argv + list(extra))
    if not wait_for(lambda: os.path.islink(link) and os.path.exists(values_path), 5.0):
        sim.kill()
        sim.pump(0)
        raise RuntimeError("Modbus simulator did not start: %s" % sim.err)
    values = {}
    with open(values_path) as f:
        for line in f:
            if line.strip():
                o = json.loads(line)
                values.setdefault(o["slave"], {})[o["name"]] = o
    return sim, values
