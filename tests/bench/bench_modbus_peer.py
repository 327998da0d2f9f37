"""Benchmark: our smartmeter.so against collectd's own modbus plugin, side
by side, in one run, on the same simulated bus.

Both run inside the real collectd daemon and poll the same simulated
SDM630 meters (`smartmeter simulate -p modbus`, libmodbus answering) on a
pseudo-terminal, for the same values (the 34 of our sdm630 map; for
collectd's plugin one <Data> block each, as its configuration needs).  The
simulator logs every request it receives; from that log this script
counts the requests per poll cycle and the bus time per cycle, and it
reads back what each plugin wrote (csv) and compares it with the
simulator's register image.  With --pace (the default) the simulator
waits the wire time of each request and reply at 9600 baud 8N1 plus a
slave processing time of 10 ms before it answers, so the time per cycle
is what a real bus would take; --no-pace measures software only.

Last, the bus time per cycle for 30 SDM630 meters at 9600 8N1 is modelled
with the formula of notes/modbus.md section 4:
  T = (20 + 2N) x Tc + t_proc per request of N registers (Tc = 10/9600 s).

  python3 tests/bench/bench_modbus_peer.py ./smartmeter .libs/smartmeter.so [--meters 2] [--cycles 3]
  (or `make bench-modbus-peer`)

Needs collectd-core (its modbus.so) and libmodbus5 installed.
"""
import argparse
import glob
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

# our sdm630 map: name, address, collectd type, factor to our unit (kWh -> Wh)
SDM630 = [
    ("voltage_l1", 0x00, "voltage", 1), ("voltage_l2", 0x02, "voltage", 1), ("voltage_l3", 0x04, "voltage", 1),
    ("current_l1", 0x06, "current", 1), ("current_l2", 0x08, "current", 1), ("current_l3", 0x0A, "current", 1),
    ("power_net_l1", 0x0C, "power", 1), ("power_net_l2", 0x0E, "power", 1), ("power_net_l3", 0x10, "power", 1),
    ("apparent_power_l1", 0x12, "power", 1), ("apparent_power_l2", 0x14, "power", 1),
    ("apparent_power_l3", 0x16, "power", 1),
    ("reactive_power_l1", 0x18, "power", 1), ("reactive_power_l2", 0x1A, "power", 1),
    ("reactive_power_l3", 0x1C, "power", 1),
    ("power_factor_l1", 0x1E, "gauge", 1), ("power_factor_l2", 0x20, "gauge", 1),
    ("power_factor_l3", 0x22, "gauge", 1),
    ("power_net", 0x34, "power", 1), ("apparent_power_import", 0x38, "power", 1),
    ("reactive_power", 0x3C, "power", 1), ("power_factor", 0x3E, "gauge", 1), ("frequency", 0x46, "frequency", 1),
    ("energy_import", 0x48, "energy_wh", 1000), ("energy_export", 0x4A, "energy_wh", 1000),
    ("reactive_energy_import", 0x4C, "energy_wh", 1000), ("reactive_energy_export", 0x4E, "energy_wh", 1000),
    ("energy_absolute", 0x156, "energy_wh", 1000),
    ("energy_import_l1", 0x15A, "energy_wh", 1000), ("energy_import_l2", 0x15C, "energy_wh", 1000),
    ("energy_import_l3", 0x15E, "energy_wh", 1000),
    ("energy_export_l1", 0x160, "energy_wh", 1000), ("energy_export_l2", 0x162, "energy_wh", 1000),
    ("energy_export_l3", 0x164, "energy_wh", 1000),
]


def wait_for(pred, timeout, step=0.05):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(step)


def collectd_conf(d, body, interval):
    path = os.path.join(d, "collectd.conf")
    with open(path, "w") as f:
        f.write("""Hostname "bench"
FQDNLookup false
BaseDir "{d}/var"
PIDFile "{d}/var/collectd.pid"
TypesDB "/usr/share/collectd/types.db"
Interval {iv}
WriteThreads 1
PluginDir "/usr/lib/collectd"
LoadPlugin logfile
<Plugin logfile>
  LogLevel info
  File "{d}/collectd.log"
</Plugin>
LoadPlugin csv
<Plugin csv>
  DataDir "{d}/csv"
  StoreRates false
</Plugin>
{body}
""".format(d=d, iv=interval, body=body))
    return path


def peer_body(link, meters):
    out = ["LoadPlugin modbus", "<Plugin modbus>"]
    for name, addr, typ, factor in SDM630:
        out += ['  <Data "%s">' % name, "    RegisterBase %d" % addr, "    RegisterType Float",
                "    RegisterCmd ReadInput", "    Type %s" % typ, '    Instance "%s"' % name,
                "    Scale %d" % factor, "  </Data>"]
    out += ['  <Host "bus">', '    Device "%s"' % link, "    Baudrate 9600"]
    for k in range(1, meters + 1):
        out += ["    <Slave %d>" % k, '      Instance "m%d"' % k]
        out += ['      Collect "%s"' % n for n, _, _, _ in SDM630]
        out += ["    </Slave>"]
    out += ["  </Host>", "</Plugin>"]
    return "\n".join(out)


def our_body(plugins_dir, link, meters, interval):
    out = ['PluginDir "%s"' % plugins_dir, "LoadPlugin smartmeter", "<Plugin smartmeter>"]
    for k in range(1, meters + 1):
        out += ['  <Meter "m%d">' % k, '    Protocol "modbus"', '    Device "%s"' % link, "    Slave %d" % k,
                '    Model "sdm630"', "    Interval %g" % interval, "  </Meter>"]
    out += ["</Plugin>"]
    return "\n".join(out)


def read_log(path):
    reqs = []
    try:
        with open(path) as f:
            for line in f:
                p = line.split()
                if len(p) >= 6 and p[0].isdigit():
                    reqs.append((int(p[0]), int(p[1]), int(p[2]), int(p[3], 0), int(p[4]), p[5]))
    except FileNotFoundError:
        pass
    return reqs


def cycles_of(reqs, interval):
    """Split requests into poll cycles at gaps of more than half the interval."""
    cycles, cur = [], []
    for r in reqs:
        if cur and r[0] - cur[-1][0] > interval * 500:
            cycles.append(cur)
            cur = []
        cur.append(r)
    if cur:
        cycles.append(cur)
    return cycles


def csv_last(d, host, plugin_dir, typ, inst):
    vals = []
    for path in glob.glob(os.path.join(d, "csv", host, plugin_dir, "%s-%s-*" % (typ, inst))):
        with open(path) as f:
            for line in f:
                if line[:1].isdigit():
                    vals.append(float(line.strip().split(",")[1]))
    return vals[-1] if vals else None


def run_one(kind, args, sm, so):
    d = tempfile.mkdtemp(prefix="sm-bench-mb-")
    plugins = os.path.join(d, "plugins")
    os.makedirs(plugins)
    os.makedirs(os.path.join(d, "var"))
    shutil.copy(so, os.path.join(plugins, "smartmeter.so"))
    link, log, values = os.path.join(d, "bus"), os.path.join(d, "requests.log"), os.path.join(d, "values")
    argv = [sm, "simulate", "-p", "modbus", "--link", link, "--values", values, "--log-requests", log]
    for k in range(1, args.meters + 1):
        argv += ["--meter", "%d=sdm630" % k]
    if args.pace:
        argv += ["--pace", "--proc-ms", "10"]
    sim = subprocess.Popen(argv, stderr=subprocess.DEVNULL)
    try:
        if not wait_for(lambda: os.path.islink(link) and os.path.exists(values), 5):
            raise RuntimeError("simulator did not start")
        body = (peer_body(link, args.meters) if kind == "collectd modbus"
                else our_body(plugins, link, args.meters, args.interval))
        conf = collectd_conf(d, body, args.interval)
        cd = subprocess.Popen([args.collectd, "-f", "-C", conf], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
        try:
            want = args.cycles + 2  # the first and the last cycle may be cut
            ok = wait_for(lambda: len(cycles_of(read_log(log), args.interval)) >= want,
                          args.interval * (want + 3) + 10, 0.2)
        finally:
            cd.send_signal(signal.SIGTERM)
            try:
                cd.wait(10)
            except subprocess.TimeoutExpired:
                cd.kill()
                cd.wait()
        reqs = read_log(log)
        cyc = cycles_of(reqs, args.interval)[1:-1] if ok else []
        image = {}
        with open(values) as f:
            for line in f:
                if line.strip():
                    o = json.loads(line)
                    image[(o["slave"], o["name"])] = float(o["value"])
        agree = total = 0
        worst = 0.0
        for k in range(1, args.meters + 1):
            for name, _, typ, _ in SDM630:
                if kind == "collectd modbus":
                    v = csv_last(d, "bus", "modbus-m%d" % k, typ, name)
                else:
                    v = csv_last(d, "bench", "smartmeter-m%d" % k, typ, name)
                want_v = image.get((k, name))
                total += 1
                if v is not None and want_v is not None:
                    rel = abs(v - want_v) / max(abs(want_v), 1e-9)
                    worst = max(worst, rel)
                    if rel <= 1e-6:  # collectd's plugin goes through float32 -> double
                        agree += 1
        with open(os.path.join(d, "collectd.log"), errors="replace") as f:
            errors = [l for l in f if "error" in l.lower()]
        return {
            "cycles": len(cyc),
            "requests": statistics.median([len(c) for c in cyc]) if cyc else None,
            "cycle_ms": statistics.median([c[-1][0] - c[0][0] for c in cyc]) if cyc else None,
            "regs": statistics.median([sum(r[4] for r in c) for c in cyc]) if cyc else None,
            "agree": agree, "total": total, "worst": worst, "errors": errors[:3],
        }
    finally:
        sim.send_signal(signal.SIGTERM)
        try:
            sim.wait(5)
        except subprocess.TimeoutExpired:
            sim.kill()
        if os.environ.get("SM_BENCH_KEEP"):
            print("kept " + d)
        else:
            shutil.rmtree(d, ignore_errors=True)


def model():
    tc = 10 / 9600.0

    def t(n, proc):
        return (20 + 2 * n) * tc + proc
    rows = []
    for proc in (0.0, 0.010):
        peer = 30 * len(SDM630) * t(2, proc)
        ours = 30 * (t(80, proc) + t(16, proc))
        rows.append((proc, peer, ours))
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("smartmeter")
    ap.add_argument("plugin")
    ap.add_argument("--meters", type=int, default=2)
    ap.add_argument("--cycles", type=int, default=3)
    ap.add_argument("--interval", type=float, default=None)
    ap.add_argument("--no-pace", dest="pace", action="store_false")
    ap.add_argument("--collectd", default=shutil.which("collectd") or "/usr/sbin/collectd")
    args = ap.parse_args()
    if args.interval is None:
        args.interval = 5.0 if args.pace else 1.0
    if not os.path.exists(args.collectd) or not os.path.exists("/usr/lib/collectd/modbus.so"):
        print("SKIP: collectd with its modbus plugin is not installed (collectd-core, libmodbus5)")
        return 77
    sm, so = os.path.abspath(args.smartmeter), os.path.abspath(args.plugin)
    print("%d simulated SDM630 meters, %d values each, one pty, %s, Interval %g s, %d cycles measured" % (
        args.meters, len(SDM630), "paced at 9600 8N1 + 10 ms slave time" if args.pace else "not paced",
        args.interval, args.cycles))
    res = {}
    for kind in ("collectd modbus", "smartmeter"):
        res[kind] = r = run_one(kind, args, sm, so)
        print("%-16s requests/cycle %s  registers/cycle %s  first-to-last request %s ms  values equal to the image %d/%d"
              "%s%s" % (kind, r["requests"], r["regs"], r["cycle_ms"], r["agree"], r["total"],
                        "" if r["agree"] == r["total"] else " (worst relative difference %.2g)" % r["worst"],
                        "" if not r["errors"] else "  log: " + " | ".join(e.strip() for e in r["errors"])))
    a, b = res["collectd modbus"], res["smartmeter"]
    if a["requests"] and b["requests"] and a["cycle_ms"] and b["cycle_ms"]:
        print("ratio collectd modbus / smartmeter: %.1fx the requests, %.1fx the first-to-last request span" % (
            a["requests"] / b["requests"], a["cycle_ms"] / max(b["cycle_ms"], 1)))
    print("modelled bus time per cycle, 30 SDM630 at 9600 8N1, %d values each (T = (20+2N) Tc + t_proc):" %
          len(SDM630))
    for proc, peer, ours in model():
        print("  t_proc %2.0f ms: one request per value (collectd modbus) %.2f s, our plan (80 + 16 registers) "
              "%.2f s, ratio %.1fx" % (proc * 1000, peer, ours, peer / ours))
    ok = a["agree"] == a["total"] and b["agree"] == b["total"] and a["cycles"] and b["cycles"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
