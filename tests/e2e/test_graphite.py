"""Our data in a real Graphite: collectd with our plugin reads simulated
meters (a DSMR P1 meter and a Modbus SDM630) and sends through
write_graphite (contrib/collectd-graphite.conf) to Debian's carbon-cache, on 127.0.0.1
with ports picked at run time and a temporary storage directory; the
whisper files are read back and their metric paths and values compared
with what the meters sent:

  <host>.smartmeter-<meter>.<type>-<reading>   e.g.  smtest.smartmeter-sdm.voltage-voltage_l1

Skipped (77) when carbon-cache, the whisper module or collectd is missing."""
import os
import shutil
import signal
import socket
import subprocess
import time

from smtest import (Proc, check, finish, free_port, modbus_simulator, simulator, skip, tmpdir, top_builddir,
                    top_srcdir, wait_for)

carbon = shutil.which("carbon-cache") or "/usr/bin/carbon-cache"
collectd = os.environ.get("COLLECTD_BIN") or shutil.which("collectd") or "/usr/sbin/collectd"
so = os.path.join(top_builddir, ".libs", "smartmeter.so")
PY = "/usr/bin/python3"  # Debian's python3-whisper is for the system interpreter
if not os.path.exists(carbon):
    skip("carbon-cache is not installed (apt-get install graphite-carbon)")
if subprocess.run([PY, "-c", "import whisper"], stderr=subprocess.DEVNULL).returncode != 0:
    skip("the whisper module is not installed (apt-get install python3-whisper)")
if not os.path.exists(collectd) or not os.path.exists(so):
    skip("collectd or smartmeter.so is missing")
if os.environ.get("SM_SANITIZERS") == "yes":
    skip("a sanitizer build of the plugin cannot be loaded by the distribution's collectd")

d = tmpdir("graphite")
procs = []


line_port, pickle_port, query_port = free_port(), free_port(), free_port()
storage = os.path.join(d, "storage")
os.makedirs(os.path.join(storage, "whisper"))
os.makedirs(os.path.join(storage, "log"))
conf_dir = os.path.join(d, "conf")
os.makedirs(conf_dir)
with open(os.path.join(conf_dir, "carbon.conf"), "w") as f:
    f.write("""[cache]
STORAGE_DIR = {s}/
LOCAL_DATA_DIR = {s}/whisper/
WHITELISTS_DIR = {s}/lists/
CONF_DIR = {c}/
LOG_DIR = {s}/log/
PID_DIR = {s}/
USER =
MAX_CACHE_SIZE = inf
MAX_UPDATES_PER_SECOND = inf
MAX_CREATES_PER_MINUTE = inf
LINE_RECEIVER_INTERFACE = 127.0.0.1
LINE_RECEIVER_PORT = {line}
ENABLE_UDP_LISTENER = False
PICKLE_RECEIVER_INTERFACE = 127.0.0.1
PICKLE_RECEIVER_PORT = {pickle}
CACHE_QUERY_INTERFACE = 127.0.0.1
CACHE_QUERY_PORT = {query}
WHISPER_AUTOFLUSH = True
LOG_UPDATES = False
LOG_CACHE_HITS = False
""".format(s=storage, c=conf_dir, line=line_port, pickle=pickle_port, query=query_port))
with open(os.path.join(conf_dir, "storage-schemas.conf"), "w") as f:
    f.write("[default]\npattern = .*\nretentions = 1s:1h,60s:7d\n")
with open(os.path.join(conf_dir, "storage-aggregation.conf"), "w") as f:
    f.write("[default]\npattern = .*\nxFilesFactor = 0\naggregationMethod = last\n")


def whisper_last(metric):
    """The newest non-empty point of a metric's whisper file, or None."""
    path = os.path.join(storage, "whisper", *metric.split(".")) + ".wsp"
    if not os.path.exists(path):
        return None
    code = ("import whisper,sys,time\n"
            "(s,e,st),v=whisper.fetch(sys.argv[1], int(time.time())-3000)\n"
            "p=[x for x in v if x is not None]\n"
            "print(repr(p[-1]) if p else '')\n")
    r = subprocess.run([PY, "-c", code, path], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = r.stdout.decode().strip()
    return float(out) if out else None


def listening(port):
    s = socket.socket()
    try:
        s.settimeout(0.2)
        s.connect(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


cc = Proc([carbon, "--config=%s" % os.path.join(conf_dir, "carbon.conf"),
           "--pidfile=%s" % os.path.join(d, "carbon.pid"), "--debug", "start"])
procs.append(cc)
try:
    up = wait_for(lambda: listening(line_port), 20, 0.05)
    check(up, "carbon-cache accepts on 127.0.0.1:%d" % line_port)
    if not up:
        cc.pump(0)
        print("\n".join((cc.out + cc.err)[-15:]))
        raise SystemExit(finish())

    plugins = os.path.join(d, "plugins")
    os.makedirs(plugins)
    shutil.copy(so, os.path.join(plugins, "smartmeter.so"))
    link = os.path.join(d, "p1")
    sim = simulator(link, period="0.5")
    procs.append(sim)
    mlink = os.path.join(d, "bus")
    msim, mvalues = modbus_simulator(mlink, ["1=sdm630"])
    procs.append(msim)
    image = {n: float(o["value"]) for n, o in mvalues[1].items()}
    os.makedirs(os.path.join(d, "var"))
    # the write_graphite section exactly as contrib/ gives it, on our port
    with open(os.path.join(top_srcdir, "contrib", "collectd-graphite.conf")) as f:
        graphite = f.read().replace('Port "2003"', 'Port "%d"' % line_port)
    check('Port "%d"' % line_port in graphite, "contrib/collectd-graphite.conf has the write_graphite section")
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
{graphite}
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
""".format(d=d, graphite=graphite, plugins=plugins, p1=link, bus=mlink))
    cd = Proc([collectd, "-f", "-C", cconf])
    procs.append(cd)
    ok = wait_for(lambda: whisper_last("smtest.smartmeter-sdm.energy_wh-energy_import") is not None and
                  whisper_last("smtest.smartmeter-home.energy_wh-energy_import_t1") is not None, 30, 0.3)
    check(ok, "whisper files appear for both meters (smtest/smartmeter-sdm/..., smtest/smartmeter-home/...)")
    bad = []
    kinds = {"voltage_l1": "voltage", "current_l1": "current", "power_net": "power", "frequency": "frequency",
             "power_factor": "gauge", "energy_import": "energy_wh", "energy_export": "energy_wh"}
    for name, typ in kinds.items():
        v = whisper_last("smtest.smartmeter-sdm.%s-%s" % (typ, name))
        if v is None or abs(v - image[name]) > 1e-9 * max(1.0, abs(image[name])):
            bad.append("%s-%s: %s != %s" % (typ, name, v, image[name]))
    check(not bad, "metric paths <host>.smartmeter-<meter>.<type>-<name> hold the register image's values%s" % (
        "" if not bad else ": " + "; ".join(bad)))
    v = whisper_last("smtest.smartmeter-home.energy_wh-energy_import_t1")
    check(v is not None and v > 1000, "the P1 meter's energy_import_t1 in Wh (%s)" % v)
    frames = whisper_last("smtest.smartmeter-home.total_operations-frames")
    check(frames is not None and frames >= 1, "health counters arrive too (total_operations-frames %s)" % frames)
    cd.pump(0)
    check(not [l for l in cd.out if "error" in l.lower()], "no errors in collectd's log")
    code, took = cd.stop(signal.SIGTERM)
    check(code == 0 and took < 1.0, "collectd stops within a second (%.3f s)" % took)
finally:
    for p in reversed(procs):
        if p.p.poll() is None:
            p.stop(signal.SIGTERM, 5)
    shutil.rmtree(d, ignore_errors=True)
finish()
