"""Benchmark: CPU cost per telegram of the whole `smartmeter read` path fed
from a pseudo-terminal (framer, decoder, JSON formatting, stdout), against
a baseline measured in the same run: `cat` reading the same pty stream.

  python3 tests/bench/bench_read.py ./smartmeter [telegrams]
"""
import os
import subprocess
import sys
import tempfile
import threading
import time

sm = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "./smartmeter")
n = int(sys.argv[2]) if len(sys.argv) > 2 else 3000
period = "0.002"


def cpu_seconds(pid):
    """utime + stime of a live process, from /proc (clock ticks)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(reader_argv_for):
    d = tempfile.mkdtemp(prefix="sm-bench-")
    link = os.path.join(d, "p1")
    sim = subprocess.Popen([sm, "simulate", "-p", "dsmr", "--link", link, "--period", period,
                            "--count", str(n)], stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 5
    while not os.path.islink(link) and time.monotonic() < deadline:
        time.sleep(0.01)
    rd = subprocess.Popen(reader_argv_for(link), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    got = {"lines": 0, "bytes": 0}

    def drain():  # the reader must never block on a full stdout pipe
        for chunk in iter(lambda: rd.stdout.read(65536), b""):
            got["lines"] += chunk.count(b"\n")
            got["bytes"] += len(chunk)

    th = threading.Thread(target=drain)
    th.start()
    t0 = time.monotonic()
    cpu = 0.0
    # count output while the simulator runs; stop the reader when it is done
    while sim.poll() is None:
        cpu = cpu_seconds(rd.pid)
        time.sleep(0.05)
    time.sleep(0.3)  # let the reader take the last bytes (benchmark only, not a test)
    cpu = cpu_seconds(rd.pid)
    rd.terminate()
    rd.wait()
    th.join()
    wall = time.monotonic() - t0
    return cpu, wall, got["lines"], got["bytes"]


cpu_sm, wall, lines, nbytes = run(lambda link: [sm, "read", "-p", "dsmr", "-d", link])
cpu_cat, _, _, _ = run(lambda link: ["cat", link])
print("telegrams sent:              %d (every %s s)" % (n, period))
print("smartmeter read, JSON lines: %d lines, %d bytes in %.2f s wall" % (lines, nbytes, wall))
print("CPU smartmeter read:         %.3f s = %.1f us/telegram" % (cpu_sm, cpu_sm / n * 1e6))
print("CPU baseline (cat of pty):   %.3f s = %.1f us/telegram" % (cpu_cat, cpu_cat / n * 1e6))
if cpu_cat > 0:
    print("ratio read/cat:              %.1fx" % (cpu_sm / cpu_cat))
