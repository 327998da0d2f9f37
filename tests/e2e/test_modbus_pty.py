"""Modbus meters end to end: `smartmeter simulate -p modbus` is a bus of
slaves (libmodbus's reply functions answering from register images of our
built-in models) on a pseudo-terminal or TCP, and `smartmeter read` polls
it through libmodbus.  Checked here:

- every built-in model round-trips: the values and units read equal the
  simulator's register image exactly, all models on one bus;
- `read --plan` shows the coalesced requests (sdm630: 2 per poll);
- a bus with two live slaves and a dead one: the dead one costs one
  timeout per poll, is then polled less often, and never stalls the others;
- CRC errors, busy (exception 6) replies, garbage and late replies: no
  wrong value is ever emitted, each fault is reported;
- requests beyond a model's limits (a user map that ignores them) get
  exception replies that are logged with the register names;
- Modbus TCP (tcp://) and RTU over TCP (rtu+tcp://);
- SIGTERM stops the reader within a second, also while a request waits
  for its answer (Timeout 10), and so does stdin EOF with --trigger stdin.

Skipped (77) while this build has no Protocol "modbus" or no simulator."""
import json
import os
import signal
import socket
import subprocess
import time

from smtest import (SMARTMETER, Proc, check, finish, skip, tmpdir, wait_for)

if not os.path.exists(SMARTMETER):
    skip("the smartmeter program was not built")


def run(argv, timeout=30):
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


_, out, err = run([SMARTMETER, "simulate", "--help"])
if "modbus" not in out + err:
    skip("simulate -p modbus is not in this build yet")

MODELS = ["sdm630", "sdm120", "sdm72", "sdm72v1", "acuvim2", "acuvim-l", "em24", "em340", "abb-b23",
          "iem3000", "janitza-b23"]

d = tmpdir("modbus")
procs = []


def sim(name, meters, *extra):
    """A simulated bus on a pty linked at d/name; returns (proc, link, values by slave)."""
    link = os.path.join(d, name)
    values = os.path.join(d, name + ".values")
    argv = [SMARTMETER, "simulate", "-p", "modbus", "--link", link, "--values", values]
    for m in meters:
        argv += ["--meter", m]
    p = Proc(argv + list(extra))
    procs.append(p)
    if not wait_for(lambda: os.path.islink(link) and os.path.exists(values), 5.0):
        p.kill()
        p.pump(0)
        raise RuntimeError("simulator did not start: %s" % p.err)
    return p, link, load_values(values)


def load_values(path):
    by = {}
    with open(path) as f:
        for line in f:
            if line.strip():
                o = json.loads(line)
                by.setdefault(o["slave"], {})[o["name"]] = o
    return by


def write_conf(name, text):
    path = os.path.join(d, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def reader(*argv):
    p = Proc([SMARTMETER, "read"] + list(argv))
    procs.append(p)
    return p


def objs(p):
    out = []
    for l in p.out:
        if l.startswith("{"):
            out.append(json.loads(l))
    return out


def by_meter(p):
    got = {}
    for o in objs(p):
        got.setdefault(o["meter"], {})[o["name"]] = o
    return got


def same(a, b):
    """Exact decimal equality of two JSON numbers (both parsed from text)."""
    return repr(a) == repr(b) or a == b


try:
    # ---- every model on one bus: exact values and units ----
    meters = ["%d=%s" % (i + 1, m) for i, m in enumerate(MODELS)]
    s, link, values = sim("all", meters)
    conf = "".join('<Meter "m%d">\n  Protocol "modbus"\n  Device "%s"\n  Slave %d\n  Model "%s"\n'
                   '  Interval 1\n  Timeout 0.5\n</Meter>\n' % (i + 1, link, i + 1, m)
                   for i, m in enumerate(MODELS))
    cpath = write_conf("all.conf", conf)

    code, out, err = run([SMARTMETER, "read", "-c", cpath, "--plan"])
    check(code == 0, "read --plan exits 0 (%d: %s)" % (code, err.strip()[:200]))
    check('meter "m1": slave 1' in out and "2 requests" in out.split('meter "m2"')[0],
          "read --plan: sdm630 needs 2 requests per poll")
    check("FC04 0x0000 +80" in out, "read --plan lists the sdm630's first request")

    r = reader("-c", cpath)
    want_names = {i + 1: set(values.get(i + 1, {})) for i in range(len(MODELS))}
    ok = r.wait_lines(lambda p: all(set(by_meter(p).get("m%d" % k, {})) >= want_names[k] and want_names[k]
                                    for k in want_names), 20)
    check(ok, "every model's values arrive (%d meters)" % len(MODELS))
    got = by_meter(r)
    for i, m in enumerate(MODELS):
        slave = i + 1
        exp = values.get(slave, {})
        g = got.get("m%d" % slave, {})
        bad = [n for n in exp if n not in g or not same(g[n]["value"], exp[n]["value"]) or
               g[n]["unit"] != exp[n]["unit"]]
        check(exp and not bad, "%s: %d values and units exact%s" % (
            m, len(exp), "" if not bad else ": " + ", ".join(
                "%s %s %s != %s %s" % (n, g.get(n, {}).get("value"), g.get(n, {}).get("unit"),
                                        exp[n]["value"], exp[n]["unit"]) for n in bad[:4])))
    check(not [l for l in r.err if l.startswith("E! ")], "no errors while reading %d meters" % len(MODELS))
    code, took = r.stop()
    check(code == 0 and took < 1.0, "SIGTERM stops the reader within a second (%.3f s)" % took)
    s.stop()

    # ---- two live slaves and a dead one ----
    reqlog = os.path.join(d, "bus3.requests")
    s, link, values = sim("bus3", ["1=sdm630", "2=em24"], "--log-requests", reqlog)
    conf = ""
    for name, slave, model in (("live1", 1, "sdm630"), ("dead", 3, "sdm630"), ("live2", 2, "em24")):
        conf += ('<Meter "%s">\n  Protocol "modbus"\n  Device "%s"\n  Slave %d\n  Model "%s"\n'
                 '  Interval 1\n  Timeout 0.3\n</Meter>\n' % (name, link, slave, model))
    cpath = write_conf("bus3.conf", conf)
    r = reader("-c", cpath)
    t0 = time.monotonic()

    def polls(p, meter):
        return len([o for o in objs(p) if o["meter"] == meter and o["name"] == "frequency"])
    ok = r.wait_lines(lambda p: polls(p, "live1") >= 6 and polls(p, "live2") >= 6, 15)
    took = time.monotonic() - t0
    check(ok, "both live slaves are polled every second beside a dead one (%d and %d polls in %.1f s)" % (
        polls(r, "live1"), polls(r, "live2"), took))
    check(not [o for o in objs(r) if o["meter"] == "dead"], "the dead slave yields no values")
    dead_msgs = [l for l in r.err if '"dead"' in l and "did not answer" in l]
    check(1 <= len(dead_msgs) <= 2, "the dead slave is reported, rate limited (%d lines)" % len(dead_msgs))
    check([l for l in r.err if '"dead"' in l and "polled less often" in l],
          "the dead slave is backed off (logged once)")
    with open(reqlog) as f:
        to_dead = [l for l in f if l.split()[1:2] == ["3"]]
    # every second would be 6 or more polls in this time; after 2 and 4 s: 3
    check(1 <= len(to_dead) <= 3, "the dead slave is polled less often: %d requests in %.1f s" % (
        len(to_dead), took))
    r.stop()
    s.stop()

    # ---- faults: crc, busy, garbage, late ----
    s, link, values = sim("faults", ["1=sdm630:crc", "2=sdm630:busy", "3=em340:garbage", "4=sdm120:late=400",
                                     "5=sdm630"])
    conf = ""
    for k, model in ((1, "sdm630"), (2, "sdm630"), (3, "em340"), (4, "sdm120"), (5, "sdm630")):
        conf += ('<Meter "f%d">\n  Protocol "modbus"\n  Device "%s"\n  Slave %d\n  Model "%s"\n'
                 '  Interval 1\n  Timeout 0.2\n</Meter>\n' % (k, link, k, model))
    cpath = write_conf("faults.conf", conf)
    r = reader("-c", cpath)
    ok = r.wait_lines(lambda p: all(polls(p, "f%d" % k) >= 3 for k in (1, 2, 5)), 20)
    check(ok, "meters with CRC errors and busy replies still deliver (retry / next poll)")
    got_all = objs(r)
    wrong = [o for o in got_all if o["name"] in values.get(int(o["meter"][1:]), {}) and
             not same(o["value"], values[int(o["meter"][1:])][o["name"]]["value"])]
    check(not wrong, "no wrong value from a faulty slave (%d values checked)%s" % (
        len(got_all), "" if not wrong else ": " + str(wrong[:3])))
    check([l for l in r.err if '"f1"' in l and "CRC" in l], "CRC errors are reported")
    check([l for l in r.err if '"f2"' in l and "exception 6" in l], "busy replies are reported as exception 6")
    check([l for l in r.err if '"f4"' in l and "did not answer" in l], "late replies count as no answer")
    check(polls(r, "f5") >= 3, "a healthy slave beside faulty ones is polled every second")
    r.stop()
    s.stop()

    # ---- a user map beyond the model's limits: exception replies with register names ----
    s, link, values = sim("limits", ["1=em24"])
    conf = ('<RegisterMap "greedy">\n  MaxRegisters 40\n'
            '  <Register "voltage_l1">\n    Address 0\n    Function 4\n    Type "int32"\n'
            '    WordOrder "CDAB"\n    Scale 0.1\n    Unit "V"\n  </Register>\n'
            '  <Register "energy_import">\n    Address 0x42\n    Function 4\n    Type "int32"\n'
            '    WordOrder "CDAB"\n    Scale 0.1\n    Unit "kWh"\n  </Register>\n'
            '  <Register "current_l1">\n    Address 0x0C\n    Function 4\n    Type "int32"\n'
            '    WordOrder "CDAB"\n    Scale 0.001\n    Unit "A"\n  </Register>\n'
            '</RegisterMap>\n'
            '<Meter "greedy">\n  Protocol "modbus"\n  Device "%s"\n  Slave 1\n  RegisterMap "greedy"\n'
            '  Interval 1\n  Timeout 0.3\n</Meter>\n' % link)
    cpath = write_conf("limits.conf", conf)
    code, out, err = run([SMARTMETER, "read", "-c", cpath, "--plan"])
    check(code == 0 and "2 requests" in out, "a user map is planned (%s)" % out.strip().replace("\n", " | ")[:200])
    r = reader("-c", cpath)
    ok = r.wait_lines(lambda p: [l for l in p.err if "exception" in l], 10)
    check(ok and [l for l in r.err if "exception 3" in l and "voltage_l1" in l],
          "a request beyond the meter's limit is reported with exception 3 and its register names")
    ok = r.wait_lines(lambda p: [o for o in objs(p) if o["name"] == "energy_import"], 10)
    check(ok, "the other request of the same meter still delivers")
    r.stop()
    s.stop()

    # ---- stop while a request waits for its answer (Timeout 10) ----
    # A slave that takes the request and never answers: once the request
    # is on the wire, stdin EOF (--trigger stdin) and SIGTERM each end read
    # within a second, not after the 10 s timeout.
    import select
    import tty
    for how in ("stdin EOF", "SIGTERM"):
        master, slave = os.openpty()
        tty.setraw(slave)
        deaf = os.path.join(d, "deaf-" + how.split()[0])
        os.symlink(os.ttyname(slave), deaf)
        argv = [SMARTMETER, "read", "-p", "modbus", "-d", deaf, "--slave", "1", "--model", "sdm120",
                "--timeout", "10", "--name", "deaf"]
        if how == "stdin EOF":
            r = Proc(argv + ["--trigger", "stdin"], stdin=subprocess.PIPE)
            r.p.stdin.write(b"\n")  # one poll now
            r.p.stdin.flush()
        else:
            r = Proc(argv)
        procs.append(r)
        req = b""
        deadline = time.monotonic() + 5
        while len(req) < 8 and time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.1)
            if ready:
                req += os.read(master, 64)
        t0 = time.monotonic()
        if how == "stdin EOF":
            r.p.stdin.close()
            try:
                r.p.wait(5)
            except subprocess.TimeoutExpired:
                pass
            code, took = r.p.returncode, time.monotonic() - t0
        else:
            code, took = r.stop(signal.SIGTERM)
        check(len(req) >= 8 and code == 0 and took < 1.0,
              "%s ends read within a second while a request waits for its answer (request %d bytes, "
              "exit %s, %.3f s)" % (how, len(req), code, took))
        r.kill()
        os.close(master)
        os.close(slave)

    # ---- Modbus TCP and RTU over TCP ----
    for mode, scheme in (("tcp", "tcp"), ("rtu", "rtu+tcp")):
        so = socket.socket()
        so.bind(("127.0.0.1", 0))
        port = so.getsockname()[1]
        so.close()
        values_path = os.path.join(d, "tcp-%s.values" % mode)
        argv = [SMARTMETER, "simulate", "-p", "modbus", "--listen", "127.0.0.1:%d" % port,
                "--meter", "7=sdm630", "--values", values_path]
        if mode == "rtu":
            argv.append("--rtu-over-tcp")
        s = Proc(argv)
        procs.append(s)
        if not wait_for(lambda: os.path.exists(values_path), 5.0):
            check(False, "%s simulator starts" % scheme)
            continue
        vals = load_values(values_path)[7]
        r = reader("-p", "modbus", "-d", "%s://127.0.0.1:%d" % (scheme, port), "--slave", "7",
                   "--model", "sdm630", "--interval", "1", "--name", "tcpm")
        ok = r.wait_lines(lambda p: set(by_meter(p).get("tcpm", {})) >= set(vals), 10)
        g = by_meter(r).get("tcpm", {})
        check(ok and all(same(g[n]["value"], vals[n]["value"]) for n in vals),
              "%s://: every sdm630 value exact" % scheme)
        r.stop()
        s.stop()
finally:
    for p in procs:
        p.kill()
finish()
