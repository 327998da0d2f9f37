"""Soak test: a compressed day through the whole read path.

One `smartmeter read` process reads every meter of a collectd.conf-style
file while `smartmeter simulate` processes play the meters on
pseudo-terminals, each push meter sending its day of telegrams (86,400: one
a second) as fast as --period allows:

  dsmr5    DSMR 5 P1 telegrams (the built-in meter)
  sml      SML 1.04 files (the built-in German meter)
  iec-d    IEC 62056-21 mode D push (the built-in meter)
  dlms     DLMS/COSEM over wired M-Bus, encrypted (AES-128-GCM, the
           built-in Austrian-style meter)
  sdm630   Modbus RTU, an Eastron SDM630 polled back to back (Interval
           0.001) while the push meters run: as many polls as the bus gives

The simulators are held (SIGSTOP) until the reader has every pty open.
The reader's stdout is consumed as it comes (lines counted per meter, two
lines of every chunk parsed and checked), never stored.  Its VmRSS and
VmHWM are sampled from /proc/PID/status when the push meters have
delivered 1%, 10% and 50% of their telegrams, and at the end.  Checks:
every push meter delivered all its telegrams as reading sets (a simulator
sends TRAIL telegrams more, see there), each set with the same number of
readings and the meter's key readings; the Modbus meter answered every
poll with its register image; JSON lines well formed; the reader's RSS at
the end within --rss-bound KiB of its RSS at 10% (after warm-up; not in a
sanitizer build); no errors logged while the meters ran; every simulator
ended by itself; the reader stops on SIGTERM within 2 s with status 0.  A
table of the numbers is printed.

  python3 tests/soak/soak.py [--telegrams N] [--period S] [--rss-bound KIB]

`make soak` runs the full day; `make check` runs tests/soak/soak_short.py
(5,000 telegrams a meter).  Exit status: 0 passed, 1 failed, 77 skipped.
"""
import argparse
import fcntl
import json
import math
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
from smtest import (SMARTMETER, Proc, check, finish, modbus_simulator,  # noqa: E402
                    simulator, skip, tmpdir, wait_for)

KEY = "1F2E3D4C5B6A79880F1E2D3C4B5A6978"
F_SETPIPE_SZ = 1031

# name, protocol, simulator arguments, <Meter> options, readings every set holds
PUSH = [
    ("dsmr5", "dsmr", [], '', ("energy_import_t1", "power_import")),
    ("sml", "sml", [], '', ("energy_import", "power_net")),
    ("iec-d", "iec62056-21", ["--mode", "D"], '    Mode "D"\n', ("energy_import",)),
    ("dlms", "dlms", ["--key", KEY, "--framing", "mbus"],
     '    Key "%s"\n    Framing "mbus"\n' % KEY, ("energy_import", "power_import")),
]
MODBUS = "sdm630"
MODBUS_REQS_PER_POLL = 2  # `smartmeter read --plan` for the sdm630 map
# Telegrams each push simulator sends after the day's: the last telegrams of
# a run may not arrive, for reasons of the test's making.  A simulator that
# has sent its --count closes its pty as soon as the reader has nothing left
# unread on its side, but the kernel moves pty writes to the reader's side
# from a work queue: what is still in flight (under load, the last few
# writes) is discarded by the hang-up.  And an IEC 62056-21 mode D frame is
# complete only when the next one starts or the line has been quiet for a
# read timeout, which a hang-up does not wait for.
TRAIL = 5


def status(pid):
    """VmRSS and VmHWM of pid in KiB (None when it is gone)."""
    try:
        with open("/proc/%d/status" % pid) as f:
            text = f.read()
    except OSError:
        return None
    rss = re.search(r"^VmRSS:\s+(\d+) kB", text, re.M)
    hwm = re.search(r"^VmHWM:\s+(\d+) kB", text, re.M)
    return int(rss.group(1)), int(hwm.group(1))


class Reader(Proc):
    """`smartmeter read`: stdout counted per meter as it arrives, not kept;
    stderr kept as (monotonic time, line)."""

    def __init__(self, argv, meters, want):
        super().__init__(argv)
        try:
            fcntl.fcntl(self.p.stdout.fileno(), F_SETPIPE_SZ, 1 << 20)
        except OSError:
            pass
        self.meters = meters
        self.marker = {m: None for m in meters}  # the first reading name of a set
        self.pattern = {}
        self.sets = {m: 0 for m in meters}
        self.lines = {m: 0 for m in meters}
        self.bytes = 0
        self.tail = b""
        self.parsed = 0
        self.bad = []          # spot-check failures
        # readings every set of a meter must hold: name -> times seen
        self.want = {m: {w: 0 for w in want.get(m, ())} for m in meters}
        self.last_energy = {}  # meter -> last energy_import seen (must not fall)
        self.modbus_values = {}
        self.err_t = []        # (sets per meter when the line was read, line)

    def _spot(self, line):
        try:
            o = json.loads(line)
        except ValueError:
            self.bad.append("not JSON: %r" % line[:120])
            return
        self.parsed += 1
        m = o.get("meter")
        if m not in self.sets:
            self.bad.append("unknown meter: %r" % line[:120])
            return
        now_ms = time.time() * 1000
        if not isinstance(o.get("time"), int) or abs(o["time"] - now_ms) > 36 * 3600 * 1000:
            self.bad.append("implausible time: %r" % line[:120])
        if "value" in o:
            v = o["value"]
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v):
                self.bad.append("value not a finite number: %r" % line[:120])
        elif not isinstance(o.get("text"), str):
            self.bad.append("neither value nor text: %r" % line[:120])
        for k in ("name", "obis", "unit"):
            if not isinstance(o.get(k), str):
                self.bad.append("%s missing: %r" % (k, line[:120]))
        if o.get("name") == "energy_import" and "value" in o:
            last = self.last_energy.get(m)
            if last is not None and o["value"] < last:
                self.bad.append("%s: energy_import fell from %s to %s" % (m, last, o["value"]))
            self.last_energy[m] = o["value"]
        if m == MODBUS and "value" in o:
            self.modbus_values[o["name"]] = o["value"]

    def _count(self, data):
        """Count complete lines of data (bytes ending in a newline)."""
        self.bytes += len(data)
        for m in self.meters:
            if self.marker[m] is None:
                key = b'"meter":"%s","name":"' % m.encode()
                i = data.find(key)
                if i < 0:
                    continue
                j = data.index(b'"', i + len(key))
                # count from the start of this meter's first line: earlier
                # lines of it cannot be there (the marker is its first)
                self.marker[m] = data[i + len(key):j]
                self.pattern[m] = b'"meter":"%s","name":"%s"' % (m.encode(), self.marker[m])
            self.sets[m] += data.count(self.pattern[m])
            for w in self.want[m]:
                self.want[m][w] += data.count(b'"meter":"%s","name":"%s"' % (m.encode(), w.encode()))
            self.lines[m] += data.count(b'"meter":"%s"' % m.encode())
        # a spot check: the first line of the chunk, and one from its middle
        nl = data.find(b"\n")
        self._spot(data[:nl].decode("utf-8", "replace"))
        mid = data.find(b"\n", len(data) // 2)
        if 0 <= mid < len(data) - 1:
            end = data.find(b"\n", mid + 1)
            self._spot(data[mid + 1:end].decode("utf-8", "replace"))

    def pump(self, timeout=0.0):
        # stdout first: the reader writes a set before it logs what follows
        # it, so a line on stderr is read after the sets that preceded it
        ready = sorted(self.sel.select(timeout), key=lambda kv: kv[0].data != "out")
        for key, _ in ready:
            data = os.read(key.fileobj.fileno(), 1 << 20)
            if not data:
                self.sel.unregister(key.fileobj)
                continue
            if key.data == "out":
                buf = self.tail + data
                cut = buf.rfind(b"\n") + 1
                self.tail = buf[cut:]
                if cut:
                    self._count(buf[:cut])
            else:
                buf = self._partial["err"] + data
                *lines, rest = buf.split(b"\n")
                self._partial["err"] = rest
                for line in lines:
                    s = line.decode("utf-8", "replace")
                    self.err.append(s)
                    self.err_t.append((dict(self.sets), s))


def main(argv=None):
    ap = argparse.ArgumentParser(description="a compressed day through smartmeter read")
    ap.add_argument("--telegrams", type=int, default=86400, help="per push meter (default 86400)")
    ap.add_argument("--period", default="0.001", help="seconds between telegrams (default 0.001)")
    ap.add_argument("--rss-bound", type=int, default=1024,
                    help="KiB the reader's RSS may grow from 10%% to the end (default 1024)")
    ap.add_argument("--lost", type=int, default=0,
                    help="telegrams a push meter may lose (default 0)")
    ap.add_argument("--no-modbus", action="store_true", help="leave the Modbus meter out")
    args = ap.parse_args(argv)

    if not os.path.exists(SMARTMETER):
        skip("the smartmeter program was not built")
    helptext = subprocess.run([SMARTMETER, "simulate", "--help"], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT).stdout.decode()
    if "--count" not in helptext or "modbus" not in helptext:
        skip("this build's simulate has no --count or no modbus")
    sanitizers = os.environ.get("SM_SANITIZERS") == "yes"

    n = args.telegrams
    d = tmpdir("soak")
    sims = {}
    procs = []
    reader = None
    try:
        # ---- simulators: started, then held (SIGSTOP) until the reader
        # has every pty open, so no telegram waits in a full pty ----
        conf = ["LoadPlugin smartmeter", "<Plugin smartmeter>"]
        for name, proto, extra, opts, _ in PUSH:
            link = os.path.join(d, name)
            argv = list(extra) + ["--count", str(n + TRAIL)]
            if proto == "dsmr":
                p = simulator(link, period=args.period, extra=argv)
            else:
                p = Proc([SMARTMETER, "simulate", "-p", proto, "--link", link,
                          "--period", args.period] + argv)
                if not wait_for(lambda: os.path.islink(link), 5.0):
                    p.kill()
                    p.pump(0)
                    raise RuntimeError("simulator %s did not start: %s" % (name, p.err))
            p.p.send_signal(signal.SIGSTOP)
            procs.append(p)
            sims[name] = (p, link)
            conf += ['  <Meter "%s">' % name, '    Protocol "%s"' % proto,
                     '    Device "%s"' % link, opts.rstrip("\n"), "  </Meter>"]
        mb_values = {}
        if not args.no_modbus:
            link = os.path.join(d, MODBUS)
            p, mb_values = modbus_simulator(link, ["1=sdm630"])
            p.p.send_signal(signal.SIGSTOP)
            procs.append(p)
            sims[MODBUS] = (p, link)
            conf += ['  <Meter "%s">' % MODBUS, '    Protocol "modbus"', '    Device "%s"' % link,
                     '    Slave 1', '    Model "sdm630"', '    Interval 0.001', '    Timeout 0.5',
                     "  </Meter>"]
        conf.append("</Plugin>")
        conf_path = os.path.join(d, "collectd.conf")
        with open(conf_path, "w") as f:
            f.write("\n".join(l for l in conf if l) + "\n")

        meters = [m[0] for m in PUSH] + ([] if args.no_modbus else [MODBUS])
        want = {name: w for name, _, _, _, w in PUSH}
        want[MODBUS] = ("voltage_l1", "energy_import", "energy_import_l3")
        reader = Reader([SMARTMETER, "read", "-c", conf_path], meters, want)
        procs.append(reader)
        ptys = {name: os.path.realpath(link) for name, (_, link) in sims.items()}

        def opened():
            try:
                fds = os.listdir("/proc/%d/fd" % reader.p.pid)
            except OSError:
                return False
            held = set()
            for fd in fds:
                try:
                    held.add(os.readlink("/proc/%d/fd/%s" % (reader.p.pid, fd)))
                except OSError:
                    pass
            return all(t in held for t in ptys.values())

        if not check(wait_for(opened, 10.0), "the reader opened all %d ptys" % len(ptys)):
            reader.pump(0)
            print("\n".join(reader.err))
            finish()
        rss0 = status(reader.p.pid)
        t0 = time.monotonic()
        for p, _ in sims.values():
            p.p.send_signal(signal.SIGCONT)

        # ---- the day ----
        push = [m[0] for m in PUSH]
        marks = [(0.01, "1%"), (0.10, "10%"), (0.50, "50%")]
        rss = {}
        t_mark = {}
        deadline = t0 + max(60.0, n * float(args.period) * 6 + 30.0)
        last_progress, last_change = -1, time.monotonic()
        while True:
            reader.pump(0.05)
            for name in push:
                sims[name][0].pump(0)
            got = sum(min(reader.sets[m], n) for m in push)
            frac = got / (n * len(push))
            now = time.monotonic()
            while marks and frac >= marks[0][0]:
                label = marks.pop(0)[1]
                rss[label] = status(reader.p.pid)
                t_mark[label] = now - t0
                print("%5s: %d of %d sets after %.1f s, VmRSS %s KiB, VmHWM %s KiB" %
                      (label, got, n * len(push), now - t0, *rss[label]), flush=True)
            if got != last_progress:
                last_progress, last_change = got, now
            if got == n * len(push):
                break
            # every simulator has sent its telegrams and nothing came for
            # a second: what is missing is lost
            sims_done = all(sims[m][0].p.poll() is not None for m in push)
            if (sims_done and now - last_change > 1.0) or now > deadline or reader.p.poll() is not None:
                break
        t_day = last_change - t0  # the last set of the day
        rss["end"] = status(reader.p.pid)
        t_mark["end"] = time.monotonic() - t0
        print("  end: %d of %d sets after %.1f s, VmRSS %s KiB, VmHWM %s KiB" %
              (got, n * len(push), t_day, *(rss["end"] or ("-", "-"))), flush=True)
        end_err = len(reader.err_t)
        # each push simulator ends by itself once its telegrams are out (and
        # the reader took them, or 2 s passed)
        for m in push:
            wait_for(lambda: sims[m][0].p.poll() is not None, 5.0)
        sim_status = {m: sims[m][0].p.poll() for m in push}

        # ---- stop ----
        mb_served = None
        if MODBUS in sims:
            p = sims[MODBUS][0]
            p.stop(signal.SIGTERM, 5.0)
            for l in p.err:
                mm = re.search(r"served (\d+) requests", l)
                if mm:
                    mb_served = int(mm.group(1))
        code, took = reader.stop(signal.SIGTERM, 10.0)
        for name in push:
            sims[name][0].stop(signal.SIGTERM, 5.0)

        # ---- report ----
        # Errors: what the reader logged (E!, W!) about a meter or its port
        # while the day ran.  Not counted: a push meter's simulator that has
        # sent its telegrams closes its pty, which the reader reports as a
        # hang-up and then as a missing device (each simulator must have
        # ended by itself, see the checks); the warning that a pty has no
        # RS485 mode is about the test's ports.
        expected = ("device hung up", "No such file or directory", "RS485 mode not available")
        errors = {}
        for m in meters:
            tags = ('"%s"' % m, sims[m][1], ptys[m])
            errors[m] = sum(1 for _, l in reader.err_t[:end_err]
                            if l[:2] in ("E!", "W!") and any(x in l for x in tags)
                            and not (m in push and any(x in l for x in expected))
                            and expected[2] not in l)
        print()
        print("compressed day: %d telegrams per push meter, --period %s, %.1f s (%.0f telegrams/s "
              "per meter), %.1f MB of JSON lines read" %
              (n, args.period, t_day, n / t_day if t_day > 0 else 0, reader.bytes / 1e6))
        print("%-8s %10s %10s %8s %7s" % ("meter", "sent", "sets", "lines", "errors"))
        for m in meters:
            if m == MODBUS:
                sent = "%d polls" % (mb_served // MODBUS_REQS_PER_POLL) if mb_served is not None else "?"
            else:
                sent = "%d+%d" % (n, TRAIL)
            print("%-8s %10s %10d %8d %7d" % (m, sent, reader.sets[m], reader.lines[m], errors[m]))
        cols = ["start", "1%", "10%", "50%", "end"]
        allrss = dict(rss, start=rss0)
        print("reader KiB   " + " ".join("%9s" % c for c in cols) + " %9s" % "peak")
        print("VmRSS        " + " ".join("%9s" % (allrss[c][0] if allrss.get(c) else "-") for c in cols) +
              " %9s" % (rss["end"][1] if rss.get("end") else "-"))
        print("at (s)       " + " ".join("%9s" % ("%.1f" % t_mark[c] if c in t_mark else "0.0" if c == "start" else "-")
                                         for c in cols))
        print("reader stopped in %.2f s, status %s; %d lines spot-checked" % (took, code, reader.parsed),
              flush=True)

        for m in push:
            if reader.sets[m] < n - args.lost:
                print("%s lost %d telegrams; its simulator said: %s" %
                      (m, n - reader.sets[m], " | ".join(sims[m][0].err[-5:])))
        # ---- checks ----
        for m in push:
            check(sim_status[m] == 0, "%s: the simulator sent its %d telegrams and ended (status %s)"
                  % (m, n + TRAIL, sim_status[m]))
        for m in push:
            check(n - args.lost <= reader.sets[m] <= n + TRAIL,
                  "%s: %d of %d telegrams arrived as reading sets (%d lost at most; and 0 to %d of "
                  "the %d trailing ones)" % (m, min(reader.sets[m], n), n, args.lost, TRAIL, TRAIL))
            per = reader.lines[m] / reader.sets[m] if reader.sets[m] else 0
            check(reader.sets[m] > 0 and abs(per - round(per)) < 1e-9,
                  "%s: every set has the same %s readings" % (m, round(per)))
        for m in meters:
            check(all(c == reader.sets[m] for c in reader.want[m].values()),
                  "%s: every set holds %s" % (m, ", ".join(reader.want[m])))
        if MODBUS in sims:
            polls = reader.sets[MODBUS]
            check(mb_served is not None and polls > 0,
                  "%s: %d polls answered (%s requests served)" % (MODBUS, polls, mb_served))
            if mb_served is not None:
                check(0 <= mb_served // MODBUS_REQS_PER_POLL - polls <= 1,
                      "%s: every poll the simulator answered came out as a set" % MODBUS)
            img = mb_values.get(1, {})
            bad = [k for k, v in reader.modbus_values.items()
                   if k in img and abs(v - img[k]["value"]) > 1e-9 * max(1.0, abs(img[k]["value"]))]
            check(reader.modbus_values and not bad,
                  "%s: spot-checked values equal the register image (%d names seen)" %
                  (MODBUS, len(reader.modbus_values)))
        check(not reader.bad, "spot checks: %d lines parsed, every one well formed%s" %
              (reader.parsed, "" if not reader.bad else ": " + "; ".join(reader.bad[:5])))
        if sum(errors.values()):
            print("the reader's log:\n" + "\n".join(l for _, l in reader.err_t[:end_err][:60]))
        check(sum(errors.values()) == 0, "no errors logged while the meters ran")
        if rss.get("10%") and rss.get("end"):
            grow = rss["end"][0] - rss["10%"][0]
            bound = args.rss_bound
            if sanitizers:
                print("note: sanitizer build: ASan's quarantine and shadow memory grow "
                      "by design; the RSS bound is not checked")
            else:
                check(grow <= bound, "flat memory: VmRSS grew %d KiB from 10%% to the end (bound %d KiB)"
                      % (grow, bound))
        check(code == 0 and took < 2.0, "the reader stopped on SIGTERM with status 0 within 2 s")
    finally:
        for p in procs:
            try:
                if p.p.poll() is None:
                    p.p.send_signal(signal.SIGCONT)
            except OSError:
                pass
            p.kill()
    finish()


if __name__ == "__main__":
    main()
