"""Our data in a real InfluxDB 1.x (Debian's influxdb), on 127.0.0.1 with
ports picked at run time and a temporary data directory:

- collectd with our plugin (and contrib/collectd-influxdb.conf) reads simulated meters (a DSMR P1 meter and a
  Modbus SDM630) and sends through its `network` plugin to InfluxDB's
  collectd listener (contrib/influxdb-collectd.conf); what InfluxDB stores (measurement smartmeter_value,
  tags host, instance, type, type_instance, field value) is read back over
  the HTTP API and compared with what the meters sent;
- `smartmeter read --format influx` lines are posted to /write and read
  back: measurement smartmeter, tags meter, name, obis, unit, field value,
  nanosecond timestamps.

Skipped (77) when influxd or collectd is not installed."""
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.parse
import urllib.request

from smtest import (SMARTMETER, Proc, check, finish, free_port, modbus_simulator, simulator, skip, tmpdir,
                    top_builddir, top_srcdir, wait_for)

influxd = shutil.which("influxd") or "/usr/bin/influxd"
collectd = os.environ.get("COLLECTD_BIN") or shutil.which("collectd") or "/usr/sbin/collectd"
so = os.path.join(top_builddir, ".libs", "smartmeter.so")
if not os.path.exists(influxd):
    skip("influxd is not installed (apt-get install influxdb)")
if not os.path.exists(SMARTMETER):
    skip("the smartmeter program was not built")

d = tmpdir("influx")
procs = []


http_port, meta_port, cd_port = free_port(), free_port(), free_port(socket.SOCK_DGRAM)
# the listener section exactly as contrib/ gives it, on a port of our own
with open(os.path.join(top_srcdir, "contrib", "influxdb-collectd.conf")) as f:
    listener = f.read().replace("127.0.0.1:25826", "127.0.0.1:%d" % cd_port)
check("127.0.0.1:%d" % cd_port in listener, "contrib/influxdb-collectd.conf has the listener section")
conf = os.path.join(d, "influxdb.conf")
with open(conf, "w") as f:
    f.write("""reporting-enabled = false
bind-address = "127.0.0.1:{meta}"
[meta]
  dir = "{d}/meta"
[data]
  dir = "{d}/data"
  wal-dir = "{d}/wal"
  query-log-enabled = false
[http]
  enabled = true
  bind-address = "127.0.0.1:{http}"
  log-enabled = false
[ifql]
  enabled = false
[monitor]
  store-enabled = false
{listener}
""".format(meta=meta_port, d=d, http=http_port, listener=listener))

base = "http://127.0.0.1:%d" % http_port


def http(path, params=None, data=None):
    url = base + path + ("?" + urllib.parse.urlencode(params) if params else "")
    req = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")
    except OSError as e:
        return 0, str(e)


def query(db, q):
    code, body = http("/query", {"db": db, "q": q, "epoch": "ms"})
    if code != 200:
        return []
    out = []
    for res in json.loads(body).get("results", []):
        for s in res.get("series", []) or []:
            for row in s.get("values", []):
                o = dict(zip(s["columns"], row))
                o.update(s.get("tags", {}) or {})
                o["_measurement"] = s.get("name")
                out.append(o)
    return out


def dashboard_queries(name):
    """(title, query) of every target of a contrib/grafana dashboard, with
    Grafana's macros and our variables replaced as Grafana would (all
    meters, the last three days, one-minute buckets)."""
    with open(os.path.join(top_srcdir, "contrib", "grafana", name)) as f:
        d = json.load(f)
    out = []
    for p in d["panels"]:
        for t in p["targets"]:
            qq = (t["query"].replace("$timeFilter", "time > now() - 3d").replace("$__interval", "1m")
                  .replace("/^$meter$/", "/^.*$/"))
            out.append((p["title"], qq))
    return out


def history(db, rows, measurement, tag_keys):
    """Write the points in rows again one and two days earlier, counters a
    little lower, so that the per-day panels have days to compare."""
    lines = []
    for r in rows:
        if not isinstance(r.get("value"), (int, float)):
            continue
        tags = ",".join("%s=%s" % (k, str(r[k]).replace(" ", "\\ ").replace(",", "\\,"))
                        for k in tag_keys if r.get(k) not in (None, ""))
        for days, f in ((1, 0.99), (2, 0.98)):
            lines.append("%s,%s value=%r %d" % (measurement, tags, float(r["value"]) * f,
                                                (int(r["time"]) - days * 86400000) * 1000000))
    code, body = http("/write", {"db": db, "precision": "ns"}, "\n".join(lines).encode())
    return code == 204, body


def check_panels(db, name):
    empty = [t for t, qq in dashboard_queries(name) if not query(db, qq)]
    check(not empty, "every panel query of contrib/grafana/%s returns data from database %s %s" % (
        name, db, empty))


influx = Proc([influxd, "run", "-config", conf])
procs.append(influx)
try:
    up = wait_for(lambda: http("/ping")[0] == 204, 20, 0.05)
    check(up, "influxd answers /ping on 127.0.0.1:%d" % http_port)
    if not up:
        influx.pump(0)
        print("\n".join(influx.err[-10:]))
        raise SystemExit(finish())

    # ---- smartmeter read --format influx -> /write -> query ----
    link = os.path.join(d, "p1")
    sim = simulator(link, period="0.2")
    procs.append(sim)
    rd = Proc([SMARTMETER, "read", "-p", "dsmr", "-d", link, "--name", "home", "--format", "influx"])
    procs.append(rd)
    rd.wait_lines(lambda p: len([l for l in p.out if l.startswith("smartmeter,")]) >= 40, 10)
    rd.stop()
    lines = [l for l in rd.out if l.startswith("smartmeter,")]
    check(len(lines) >= 40, "read --format influx prints line protocol (%d lines)" % len(lines))
    # a Modbus submeter beside it (no OBIS code on some readings: no obis tag)
    blink = os.path.join(d, "sub")
    bsim, _ = modbus_simulator(blink, ["1=sdm630"])
    procs.append(bsim)
    rb = Proc([SMARTMETER, "read", "-p", "modbus", "-d", blink, "--model", "sdm630", "--interval", "0.5",
               "--name", "flat1", "--format", "influx"])
    procs.append(rb)
    rb.wait_lines(lambda p: len([l for l in p.out if "name=energy_import," in l]) >= 2, 10)
    rb.stop()
    blines = [l for l in rb.out if l.startswith("smartmeter,")]
    check(len(blines) >= 68, "read -p modbus --format influx prints line protocol (%d lines)" % len(blines))
    lines += blines
    http("/query", {"q": "CREATE DATABASE telegraf"}, data=b"")
    code, body = http("/write", {"db": "telegraf", "precision": "ns"}, "\n".join(lines).encode())
    check(code == 204, "InfluxDB accepts every line on /write (%d %s)" % (code, body.strip()[:200]))
    rows = query("telegraf", 'SELECT * FROM smartmeter WHERE "name" = \'energy_import_t1\'')
    sent = {}
    for l in lines:
        head, field, ts = l.rsplit(" ", 2)
        tags = dict(kv.split("=", 1) for kv in head.split(",")[1:])
        if tags.get("name") == "energy_import_t1":
            sent[int(ts) // 1000000] = (tags, field)
    got = {r["time"]: r for r in rows}
    check(sent and set(sent) == set(got), "every energy_import_t1 point is stored (%d sent, %d read back)" % (
        len(sent), len(got)))
    ok = all(got[t]["meter"] == tg["meter"] and got[t]["obis"] == tg["obis"] and got[t]["unit"] == "Wh" and
             "value=%s" % (repr(got[t]["value"]) if not float(got[t]["value"]).is_integer()
                           else int(got[t]["value"])) == fv
             for t, (tg, fv) in sent.items() if t in got)
    check(ok, "tags meter, name, obis, unit and the value read back as written")
    text = [r for r in query("telegraf", 'SELECT * FROM smartmeter WHERE "name" = \'obis_0_0_96_1_1\'')]
    check(text and isinstance(text[-1].get("text"), str) and text[-1]["text"],
          "text readings arrive as string field text (%s)" % (text[-1].get("text") if text else None))
    ok, body = history("telegraf", query("telegraf", "SELECT * FROM smartmeter"), "smartmeter",
                       ("meter", "name", "obis", "unit"))
    check(ok, "a history of two earlier days written for the dashboards (%s)" % body.strip()[:200])
    check_panels("telegraf", "smartmeter-telegraf.json")

    # ---- collectd -> network -> InfluxDB's collectd listener ----
    if not os.path.exists(collectd) or not os.path.exists(so):
        print("SKIP collectd part: collectd or smartmeter.so missing", flush=True)
    elif os.environ.get("SM_SANITIZERS") == "yes":
        print("SKIP collectd part: a sanitizer build of the plugin cannot be loaded by collectd", flush=True)
    else:
        plugins = os.path.join(d, "plugins")
        os.makedirs(plugins)
        shutil.copy(so, os.path.join(plugins, "smartmeter.so"))
        mlink = os.path.join(d, "bus")
        msim, mvalues = modbus_simulator(mlink, ["1=sdm630"])
        procs.append(msim)
        image = {n: float(o["value"]) for n, o in mvalues[1].items()}
        with open(os.path.join(top_srcdir, "contrib", "collectd-influxdb.conf")) as f:
            network = f.read().replace('"127.0.0.1" "25826"', '"127.0.0.1" "%d"' % cd_port)
        check('"%d"' % cd_port in network, "contrib/collectd-influxdb.conf has the network section")
        cconf = os.path.join(d, "collectd.conf")
        with open(cconf, "w") as f:
            f.write("""Hostname "smtest"
FQDNLookup false
BaseDir "{d}/var"
PIDFile "{d}/var/collectd.pid"
TypesDB "/usr/share/collectd/types.db"
Interval 1
PluginDir "/usr/lib/collectd"
LoadPlugin logfile
<Plugin logfile>
  LogLevel info
  File STDOUT
</Plugin>
{network}
PluginDir "{plugins}"
LoadPlugin smartmeter
<Plugin smartmeter>
  <Meter "home">
    Protocol "dsmr"
    Device "{p1}"
  </Meter>
  <Meter "sdm">
    Protocol "modbus"
    Device "{bus}"
    Model "sdm630"
    Interval 1
  </Meter>
</Plugin>
""".format(d=d, network=network, plugins=plugins, p1=link, bus=mlink))
        os.makedirs(os.path.join(d, "var"), exist_ok=True)
        sim2 = simulator(link, period="0.5")
        procs.append(sim2)
        cd = Proc([collectd, "-f", "-C", cconf])
        procs.append(cd)

        def have():
            return (query("collectd", "SELECT * FROM smartmeter_value WHERE instance = 'sdm' AND "
                                      "type_instance = 'energy_import' LIMIT 1") and
                    query("collectd", "SELECT * FROM smartmeter_value WHERE instance = 'home' AND "
                                      "type_instance = 'energy_import_t1' LIMIT 1"))
        ok = wait_for(have, 20, 0.2)
        check(ok, "collectd's values arrive in InfluxDB (database collectd, measurement smartmeter_value)")
        rows = query("collectd", "SELECT * FROM smartmeter_value WHERE instance = 'sdm'")
        last = {}
        for r in rows:
            last[r["type_instance"]] = r
        r = last.get("voltage_l1", {})
        check(r.get("host") == "smtest" and r.get("type") == "voltage",
              "tags host, instance, type, type_instance as collectd sent them (%s)" % {
                  k: r.get(k) for k in ("host", "instance", "type", "type_instance")})
        bad = [n for n, v in image.items() if n not in last or abs(last[n]["value"] - v) > 1e-9 * max(1, abs(v))]
        check(not bad, "all %d Modbus values read back equal to the register image%s" % (
            len(image), "" if not bad else ": missing or different " + ", ".join(bad[:5])))
        types = {r["type_instance"]: r["type"] for r in rows}
        check(types.get("energy_import") == "energy_wh" and types.get("power_net") == "power" and
              types.get("frequency") == "frequency" and types.get("power_factor") == "gauge",
              "collectd types by kind (energy_wh, power, frequency, gauge)")
        home = query("collectd", "SELECT * FROM smartmeter_value WHERE instance = 'home' AND "
                                 "type_instance = 'energy_import_t1'")
        check(home and home[-1]["type"] == "energy_wh" and home[-1]["value"] > 1000,
              "the P1 meter's energy_import_t1 in Wh (%s)" % (home[-1]["value"] if home else None))
        frames = query("collectd", "SELECT * FROM smartmeter_value WHERE instance = 'home' AND "
                                   "type = 'total_operations' AND type_instance = 'frames'")
        check(frames, "health counters arrive too (total_operations-frames)")
        ok, body = history("collectd", query("collectd", "SELECT * FROM smartmeter_value WHERE "
                                                         "type != 'total_operations' AND type != 'errors'"),
                           "smartmeter_value", ("host", "instance", "type", "type_instance"))
        check(ok, "a history of two earlier days written for the dashboards (%s)" % body.strip()[:200])
        check_panels("collectd", "smartmeter-collectd.json")
        code, took = cd.stop(signal.SIGTERM)
        check(code == 0 and took < 1.0, "collectd stops within a second (%.3f s)" % took)
finally:
    for p in reversed(procs):
        if p.p.poll() is None:
            p.stop(signal.SIGTERM, 5)
    shutil.rmtree(d, ignore_errors=True)
finish()
