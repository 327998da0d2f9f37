"""The real collectd daemon loads our smartmeter.so, reads a simulated P1
meter on a pseudo-terminal and writes csv files; SIGTERM stops it in time.
A second run with a broken configuration must fail the plugin's init with
a message naming the meter and the option, and leave the daemon running."""
import glob
import os
import shutil
import signal

from smtest import (Proc, check, finish, modbus_simulator, simulator, skip, tmpdir, top_builddir, wait_for)

collectd = os.environ.get("COLLECTD_BIN") or shutil.which("collectd") or "/usr/sbin/collectd"
so = os.path.join(top_builddir, ".libs", "smartmeter.so")
if not os.path.exists(collectd):
    skip("collectd is not installed (apt-get install collectd-core)")
if not os.path.exists(so):
    skip("smartmeter.so was not built (configure --without-collectd?)")
if os.environ.get("SM_SANITIZERS") == "yes":
    skip("a sanitizer build of the plugin cannot be loaded by the distribution's collectd")

d = tmpdir("collectd")
plugins = os.path.join(d, "plugins")
os.makedirs(plugins)
shutil.copy(so, os.path.join(plugins, "smartmeter.so"))  # a regular file, as collectd requires
link = os.path.join(d, "p1")


def config(meter_block):
    path = os.path.join(d, "collectd.conf")
    with open(path, "w") as f:
        f.write("""Hostname "smtest"
FQDNLookup false
BaseDir "{d}/var"
PIDFile "{d}/var/collectd.pid"
TypesDB "/usr/share/collectd/types.db"
Interval 1
WriteThreads 1
PluginDir "/usr/lib/collectd"
LoadPlugin logfile
<Plugin logfile>
  LogLevel info
  File STDOUT
  PrintSeverity true
</Plugin>
LoadPlugin csv
<Plugin csv>
  DataDir "{d}/csv"
  StoreRates false
</Plugin>
PluginDir "{plugins}"
LoadPlugin smartmeter
<Plugin smartmeter>
{meter}
</Plugin>
""".format(d=d, plugins=plugins, meter=meter_block))
    return path


def csv_values(pattern):
    """Values of every csv file matching the glob (below csv/smtest/)."""
    vals = []
    for path in glob.glob(os.path.join(d, "csv", "smtest", pattern)):
        with open(path) as f:
            for line in f:
                if line[:1].isdigit():
                    vals.append(float(line.strip().split(",")[1]))
    return vals


sim = simulator(link, period="0.2")
try:
    conf = config("""  <Meter "home">
    Protocol "dsmr"
    Device "%s"
  </Meter>""" % link)
    cd = Proc([collectd, "-f", "-C", conf])
    ok = wait_for(lambda: csv_values("smartmeter-home/energy_wh-energy_import_t1-*")
                  and csv_values("smartmeter-home/total_operations-frames-*"), 15)
    cd.pump(0)
    check(ok, "collectd writes our values into csv files")
    e = csv_values("smartmeter-home/energy_wh-energy_import_t1-*")
    check(e and e[-1] > 1000, "energy_import_t1 in Wh (type energy_wh): %s" % (e[-1:] if e else None))
    for pattern, lo, hi in (("power-power_import-*", 0, 5000), ("voltage-voltage_l1-*", 200, 260),
                            ("current-current_l1-*", 0, 100), ("count-power_failures-*", 0, 1e6),
                            ("gauge-tariff-*", 1, 2), ("energy_wh-energy_export_t1-*", 1, 1e12)):
        v = csv_values("smartmeter-home/" + pattern)
        check(v and lo <= v[-1] <= hi, "%s present and plausible: %s" % (pattern, v[-1:] if v else None))
    check(not glob.glob(os.path.join(d, "csv", "smtest", "smartmeter-home", "*96_1_1*")),
          "text readings are not dispatched as numbers")
    errs = csv_values("smartmeter-home/errors-crc-*")
    check(errs and errs[-1] == 0, "health counter errors-crc dispatched (0)")
    check(not [l for l in cd.out if "[error]" in l], "no errors in collectd's log")
    code, took = cd.stop(signal.SIGTERM)
    check(code == 0 and took < 1.0, "SIGTERM stops collectd within a second (exit %s, %.3f s)" % (code, took))


    # ---- a Modbus bus: a register map, a busy slave and a dead one ----
    mlink = os.path.join(d, "bus")
    msim, mvalues = modbus_simulator(mlink, ["1=sdm630", "3=em24:busy"])
    try:
        image = {(k, n): float(o["value"]) for k, objs in mvalues.items() for n, o in objs.items()}
        blocks = ""
        for name, slave, model in (("sdm", 1, "sdm630"), ("gone", 2, "sdm630"), ("busy", 3, "em24")):
            blocks += """  <Meter "%s">
    Protocol "modbus"
    Device "%s"
    Slave %d
    Model "%s"
    Interval 1
    Timeout 0.2
  </Meter>
""" % (name, mlink, slave, model)
        conf = config(blocks)
        cd = Proc([collectd, "-f", "-C", conf])
        ok = wait_for(lambda: csv_values("smartmeter-sdm/energy_wh-energy_import-*") and
                      csv_values("smartmeter-busy/errors-exception-*") and
                      csv_values("smartmeter-busy/errors-exception-*")[-1] > 0 and
                      csv_values("smartmeter-gone/errors-timeout-*"), 15)
        cd.pump(0)
        check(ok, "collectd with a Modbus bus writes values and health counters")
        for typ, name in (("voltage", "voltage_l1"), ("energy_wh", "energy_import"), ("power", "power_net"),
                          ("frequency", "frequency"), ("gauge", "power_factor")):
            v = csv_values("smartmeter-sdm/%s-%s-*" % (typ, name))
            want = image.get((1, name))
            check(v and want is not None and abs(v[-1] - want) <= 1e-9 * max(1.0, abs(want)),
                  "modbus %s (type %s) is the register image's %s: %s" % (name, typ, want, v[-1:]))
        t = csv_values("smartmeter-gone/errors-timeout-*")
        check(t and t[-1] >= 1, "the dead slave counts errors-timeout (%s)" % t[-1:])
        x = csv_values("smartmeter-busy/errors-exception-*")
        check(x and x[-1] >= 1, "the busy slave counts errors-exception (%s)" % x[-1:])
        check(csv_values("smartmeter-busy/voltage-voltage_l1-*"), "... and still delivers values")
        check(not [l for l in cd.out if "[error]" in l], "no errors in collectd's log (Modbus)")
        code, took = cd.stop(signal.SIGTERM)
        check(code == 0 and took < 1.0, "SIGTERM stops collectd polling Modbus within a second (%.3f s)" % took)
    finally:
        msim.stop()

    # ---- SIGTERM while every reader is blocked ----
    # "quiet": a P1 port where nothing arrives (the reader waits in a read);
    # "absent": a device that does not exist (a back-off wait); "deaf": a
    # Modbus slave on a pty that takes the request and never answers, and
    # "deaftcp": a Modbus TCP server that does the same, both with Timeout 10
    # (the reader waits for an answer).  SIGTERM goes out once both requests
    # have arrived, so both readers are inside their 10 s wait.
    import select
    import socket
    import time
    import tty
    ptys = []
    for name in ("quiet", "deaf"):
        master, slave = os.openpty()
        tty.setraw(slave)
        path = os.path.join(d, name)
        os.symlink(os.ttyname(slave), path)
        ptys.append((master, slave, path))
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(4)
    tport = lsock.getsockname()[1]
    try:
        conf = config("""  <Meter "quiet">
    Protocol "dsmr"
    Device "{q}"
  </Meter>
  <Meter "absent">
    Protocol "dsmr"
    Device "{d}/no-such-port"
  </Meter>
  <Meter "deaf">
    Protocol "modbus"
    Device "{m}"
    Slave 1
    Model "sdm120"
    Timeout 10
  </Meter>
  <Meter "deaftcp">
    Protocol "modbus"
    Device "tcp://127.0.0.1:{p}"
    Slave 1
    Model "sdm120"
    Timeout 10
  </Meter>""".format(q=ptys[0][2], d=d, m=ptys[1][2], p=tport))
        cd = Proc([collectd, "-f", "-C", conf])
        deadline = time.monotonic() + 10
        conn = None
        got_rtu = got_tcp = b""
        while time.monotonic() < deadline and (len(got_rtu) < 8 or len(got_tcp) < 12):
            cd.pump(0)
            rl = [ptys[1][0], conn or lsock]
            r, _, _ = select.select(rl, [], [], 0.1)
            if ptys[1][0] in r:
                got_rtu += os.read(ptys[1][0], 256)
            if lsock in r and conn is None:
                conn, _ = lsock.accept()
            elif conn is not None and conn in r:
                got_tcp += conn.recv(256)
        check(len(got_rtu) >= 8 and len(got_tcp) >= 12,
              "both Modbus requests arrived: the readers wait for answers (rtu %d, tcp %d bytes)"
              % (len(got_rtu), len(got_tcp)))
        cd.wait_lines(lambda p: any("no-such-port" in l for l in p.out), 5)
        check(any("no-such-port" in l for l in cd.out), "the absent device is reported (a back-off wait follows)")
        # collectd itself is up: its read threads have run our read
        # callback twice.  (A SIGTERM sent while collectd is still starting
        # its threads can be taken by a thread that is just starting; the
        # main loop then sees it only at the end of its Interval sleep.
        # That is collectd's start-up, not our readers.)
        up = wait_for(lambda: len(csv_values("smartmeter-quiet/total_operations-frames-*")) >= 2
                      and len(csv_values("smartmeter-deaftcp/errors-timeout-*")) >= 2, 8)
        check(up and len(got_rtu) >= 8, "collectd dispatched our health counters twice while the Modbus "
              "requests still wait for their answers")
        code, took = cd.stop(signal.SIGTERM)
        check(code == 0 and took < 1.0,
              "SIGTERM stops collectd within a second while its readers wait in a read, a back-off and two "
              "Modbus timeouts of 10 s (exit %s, %.3f s)" % (code, took))
        if took >= 1.0:
            for t, _, l in cd.stop_lines:
                print("  %.3f s after SIGTERM: %s" % (t, l))
        if conn is not None:
            conn.close()
    finally:
        lsock.close()
        for master, slave, path in ptys:
            os.close(master)
            os.close(slave)

    # ---- a broken configuration fails init, names meter and option ----
    conf = config("""  <Meter "home">
    Protocol "dsmr"
    Device "%s"
    Baudrat 9600
  </Meter>""" % link)
    cd = Proc([collectd, "-f", "-C", conf])
    cd.wait_lines(lambda p: any("Initialization complete" in l for l in p.out), 10)
    msg = [l for l in cd.out if "smartmeter" in l and "[error]" in l]
    check(any('meter "home"' in l and "Baudrat" in l for l in msg),
          "init fails with an error naming the meter and the option: %s" % msg[:1])
    check(cd.p.poll() is None, "the daemon keeps running without our plugin")
    code, took = cd.stop(signal.SIGTERM)
    # collectd remembers the failed init and exits with status 1; our plugin
    # is unloaded by then, so how fast is collectd's own business
    check(code in (0, 1) and took < 5.0, "and stops on SIGTERM (exit %s, %.3f s)" % (code, took))
    if took >= 1.0:
        for t, _, l in cd.stop_lines:
            print("  %.3f s after SIGTERM: %s" % (t, l))
finally:
    sim.stop()
finish()
