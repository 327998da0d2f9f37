"""IEC 62056-21 end to end over pseudo-terminals: `smartmeter simulate -p
iec62056-21` is the meter (or a bus of addressed meters), `smartmeter read`
polls it.  The simulator reads the speed the reader set on its end of the
pty and logs it, so the sign-on at 300 Bd and the switch to the agreed
speed are checked, not assumed."""
import json
import os
import select
import shutil
import signal
import subprocess
import termios
import time

from smtest import (SMARTMETER, Proc, check, finish, skip, tmpdir, top_srcdir, wait_for)

if not os.path.exists(SMARTMETER):
    skip("the smartmeter program was not built")
h = subprocess.run([SMARTMETER, "--help"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
if b"iec62056-21" not in h.stdout:
    skip("IEC 62056-21 is not in this build yet")

shared = os.environ.get("SM_SHARED") or os.path.join(top_srcdir, "..", "shared")
fixdir = os.path.join(shared, "fixtures", "iec62056-21")
have_fixtures = os.path.isdir(fixdir)
if not have_fixtures:
    print("note: %s not found (set SM_SHARED): the fixture cases are skipped" % fixdir, flush=True)
d = tmpdir("iec")
procs = []


def fixture(name):
    return os.path.join(fixdir, name)


def sim(name, *args):
    """Start the simulator on a pty linked at d/name; wait for the link."""
    link = os.path.join(d, name)
    p = Proc([SMARTMETER, "simulate", "-p", "iec62056-21", "--link", link] + list(args))
    procs.append(p)
    if not wait_for(lambda: os.path.islink(link), 5.0):
        p.kill()
        p.pump(0)
        raise RuntimeError("simulator did not create %s: %s" % (link, p.err))
    return p, link


def reader(*args):
    p = Proc([SMARTMETER, "read"] + list(args))
    procs.append(p)
    return p


def objs(p):
    out = []
    for l in p.out:
        if l.startswith("{"):
            out.append(json.loads(l))
    return out


def values(p, name, meter=None):
    return [o["value"] for o in objs(p) if o["name"] == name and "value" in o
            and (meter is None or o["meter"] == meter)]


def count(p, name, meter=None):
    return sum(1 for o in objs(p) if o["name"] == name and (meter is None or o["meter"] == meter))


def logged(p, text):
    """Whether p has logged text by now (everything it wrote so far is read)."""
    p.pump(0)
    p.pump(0)
    return any(text in l for l in p.err)


def seen(p, text, timeout=5):
    """Wait until p has logged text."""
    return p.wait_lines(lambda q: any(text in l for l in q.err), timeout)


sim_exits = []


def stop_sim(p):
    """SIGTERM the simulator; remember how it ended."""
    code, _ = p.stop()
    bad = [l for l in p.err if "runtime error" in l or "Sanitizer" in l]
    sim_exits.append((code, bad[:1]))
    return code


# ---- mode C, the built-in meter: names, units, speeds ----
s, link = sim("c")
try:
    rd = reader("-p", "iec62056-21", "-d", link, "--interval", "0.5", "--name", "opt")
    got = rd.wait_lines(lambda p: count(p, "energy_import") >= 2, 10)
    check(got, "read polls the mode C meter and prints two readouts")
    byname = {}
    for o in objs(rd):
        byname.setdefault(o["name"], o)
    want = {
        "energy_import": ("1-0:1.8.0", "Wh"), "energy_import_t1": ("1-0:1.8.1", "Wh"),
        "energy_import_t2": ("1-0:1.8.2", "Wh"), "energy_export": ("1-0:2.8.0", "Wh"),
        "energy_absolute": ("1-0:15.8.0", "Wh"), "reactive_energy_q1": ("1-0:5.8.0", "varh"),
        "reactive_energy_q2": ("1-0:6.8.0", "varh"), "reactive_energy_q3": ("1-0:7.8.0", "varh"),
        "reactive_energy_q4": ("1-0:8.8.0", "varh"), "power_import": ("1-0:1.7.0", "W"),
    }
    bad = [n for n, (ob, u) in want.items()
           if n not in byname or byname[n]["obis"] != ob or byname[n]["unit"] != u
           or not isinstance(byname[n].get("value"), (int, float))]
    check(not bad, "the built-in readout gives every register with its OBIS code and base unit %s" % bad)
    check(all(o["meter"] == "opt" for o in objs(rd)), "records carry the meter name")
    imp, t1, t2 = values(rd, "energy_import"), values(rd, "energy_import_t1"), values(rd, "energy_import_t2")
    check(imp and t1 and t2 and abs(imp[0] - t1[0] - t2[0]) <= 1 and imp == sorted(imp),
          "energy_import is t1 + t2 (in Wh, exact) and does not go backwards %s" % imp[:3])
    check(byname.get("obis_0_0_C_1_0", {}).get("text") == "12345678",
          "the serial number (0-0:C.1.0) is a text reading")
    p_w = values(rd, "power_import")
    check(p_w and all(100 < v < 2000 for v in p_w), "power_import is a plausible number of W %s" % p_w[:3])
    check(logged(s, 'meter "": sign-on at 300 Bd'), "the simulator saw the sign-on at 300 Bd")
    check(logged(s, "ACK at 300 Bd, readout at 9600 Bd requested"), "the ACK came at 300 Bd and asked for 9600 Bd")
    check(logged(s, "readout at 9600 Bd,"), "the simulator saw the reader at 9600 Bd for the readout")
    check(not any(l.startswith("W! ") for l in s.err), "the simulator had nothing to complain about %s"
          % [l for l in s.err if l.startswith("W! ")][:2])
    code, took = rd.stop(signal.SIGTERM)
    check(code == 0 and took < 1.0, "SIGTERM stops read within a second (exit %s, %.3f s)" % (code, took))

    # ---- MaxBaudrate and BaudSwitchDelay from a config file, a half-duplex echo ----
    conf = os.path.join(d, "c.conf")
    with open(conf, "w") as f:
        f.write('<Plugin smartmeter>\n  <Meter "optical">\n    Protocol "iec62056-21"\n'
                '    Device "%s"\n    Mode "C"\n    MaxBaudrate 2400\n    BaudSwitchDelay 0.1\n'
                '    Interval 0.5\n  </Meter>\n</Plugin>\n' % link)
    n_before = len(s.err)
    rd = reader("-c", conf)
    rd.wait_lines(lambda p: count(p, "energy_import") >= 1, 10)
    check(count(rd, "energy_import", "optical") >= 1, "read -c polls the meter of a config file")
    check(seen(s, "readout at 2400 Bd,"),
          "MaxBaudrate 2400: the ACK asked for 2400 Bd and the readout went at 2400 Bd")
    check(not any("9600 Bd requested" in l for l in s.err[n_before:]), "... and never for 9600 Bd")
    rd.stop()
finally:
    stop_sim(s)
check(not os.path.lexists(link), "the simulator removes its link")

s, link = sim("echo", "--echo", "--address", "42")
try:
    rd = reader("-p", "iec62056-21", "-d", link, "--address", "42", "--wake-up", "--interval", "0.5")
    check(rd.wait_lines(lambda p: count(p, "energy_import") >= 2, 10),
          "a head that echoes the request and the ACK (with WakeUp NULs before the request): two readouts")
    check(logged(s, 'meter "42": sign-on at 300 Bd'), "the meter with Address 42 answered its sign-on")
    rd.stop()
finally:
    stop_sim(s)

# ---- modes A and B with captured readouts ----
if have_fixtures:
    s, link = sim("a", "--mode", "A", "--fixture", fixture("modec_lgz_zmd120_no_stx.txt"))
    try:
        rd = reader("-p", "iec62056-21", "-d", link, "--mode", "A", "--interval", "0.5")
        rd.wait_lines(lambda p: count(p, "energy_export_t1") >= 1, 10)
        check(values(rd, "energy_import_t1")[:1] == [1846000] and values(rd, "energy_export_t1")[:1] == [4329600],
              "mode A: the Landis+Gyr ZMD120 readout gives 1846000 Wh import and 4329600 Wh export (t1)")
        check(logged(s, "identification /LGZ-") and logged(s, "readout at 300 Bd,"),
              "mode A: identification without a speed, readout at 300 Bd")
        rd.stop()
    finally:
        stop_sim(s)

    s, link = sim("b", "--mode", "B", "--fixture", fixture("modeb_siemens_uh50_readout.txt"))
    try:
        rd = reader("-p", "iec62056-21", "-d", link, "--mode", "B", "--interval", "0.5")
        m3 = lambda p: [o for o in objs(p) if o.get("unit") == "m3" and o.get("value") == 1589.28]
        rd.wait_lines(lambda p: m3(p), 10)
        check(m3(rd), "mode B: the Siemens UH50 readout gives 1589.28 m3")
        check(logged(s, "identification /SIEC2WR5 (mode B offering 2400 Bd)") and logged(s, "readout at 2400 Bd,"),
              "mode B: the letter C offers 2400 Bd and the reader switched without an ACK")
        check(not logged(s, "ACK at"), "mode B: no ACK was sent")
        rd.stop()
    finally:
        stop_sim(s)

    # ---- a wrong BCC, served as captured ----
    s, link = sim("bcc", "--verbatim", "--fixture", fixture("modec_lgz_zmd_uh50data_bcc.txt"))
    try:
        rd = reader("-p", "iec62056-21", "-d", link, "--interval", "0.5")
        rd.wait_lines(lambda p: any("BCC" in l for l in p.err), 10)
        check(any("BCC" in l for l in rd.err) and not objs(rd),
              "a readout with a wrong BCC is rejected and reported, nothing printed")
        rd.stop()
        rd = reader("-p", "iec62056-21", "-d", link, "--interval", "0.5", "--ignore-checksum")
        check(rd.wait_lines(lambda p: len(objs(p)) > 0, 10), "... and accepted with --ignore-checksum")
        rd.stop()
    finally:
        stop_sim(s)

# ---- an RS485 bus: two meters answer, a third address is silent ----
bus_args = ["--meter", "1001"]
if have_fixtures:
    bus_args += ["--meter", "1002=" + fixture("modec_iskra_mt174_readout.txt")]
else:
    bus_args += ["--meter", "1002"]
s, link = sim("bus", *bus_args)
try:
    conf = os.path.join(d, "bus.conf")
    with open(conf, "w") as f:
        for name, addr in (("first", "1001"), ("second", "1002"), ("ghost", "1003")):
            f.write('<Meter "%s">\n  Protocol "iec62056-21"\n  Device "%s"\n  Address "%s"\n'
                    '  Interval 0.5\n  BaudSwitchDelay 0.05\n</Meter>\n' % (name, link, addr))
    rd = reader("-c", conf)
    both = lambda p: count(p, "energy_import", "first") >= 2 and count(p, "energy_import", "second") >= 2
    check(rd.wait_lines(both, 15), "both addressed meters on one pty bus are read, twice each")
    check(any(v >= 7654321 for v in values(rd, "energy_import_t1", "first")),
          "meter 1001 gives the built-in readout")
    if have_fixtures:
        check(values(rd, "energy_import", "second")[:1] == [8048375],
              "meter 1002 gives the Iskra MT174 readout (8048375 Wh)")
    check(count(rd, "energy_import", "ghost") == 0, "the silent address gives nothing")
    check(logged(s, 'sign-on for address "1003": no such meter'), "the simulator stayed silent for 1003")
    check(logged(s, 'meter "1001": sign-on at 300 Bd') and logged(s, 'meter "1002": sign-on at 300 Bd'),
          "each meter answered only its own address")
    code, took = rd.stop(signal.SIGTERM)
    check(code == 0 and took < 1.0, "SIGTERM stops a bus reader within a second (%.3f s)" % took)
finally:
    stop_sim(s)

# ---- mode D push ----
args = ["--mode", "D", "--period", "0.3"]
if have_fixtures:
    args += ["--fixture", fixture("moded_ebz_dd3_push.txt")]
s, link = sim("d", *args)
try:
    rd = reader("-p", "iec62056-21", "-d", link, "--mode", "D")
    rd.wait_lines(lambda p: count(p, "energy_import") >= 2, 10)
    check(count(rd, "energy_import") >= 2, "mode D: read prints the pushed telegrams")
    if have_fixtures:
        check(values(rd, "energy_import")[:1] == [125256.8857] and values(rd, "voltage_l1")[:1] == [232.4],
              "mode D: the eBZ DD3 telegram gives 125256.8857 Wh and 232.4 V")
    check(logged(s, "push at 9600 Bd"), "mode D: the reader listens at 9600 Bd (its line default)")
    rd.stop()
finally:
    stop_sim(s)

# ---- SIGTERM in the middle of a slow readout ----
s, link = sim("slow", "--mode", "A", "--pace")
try:
    rd = reader("-p", "iec62056-21", "-d", link, "--mode", "A", "--interval", "0.5")
    started = s.wait_lines(lambda p: logged(p, "readout at 300 Bd,"), 10)
    check(started, "a paced readout at 300 Bd has begun (it takes seconds)")
    code, took = rd.stop(signal.SIGTERM)
    check(code == 0 and took < 1.0 and not objs(rd),
          "SIGTERM mid-readout stops read within a second (exit %s, %.3f s)" % (code, took))
finally:
    stop_sim(s)


# ---- the simulator on its own: bytes, speeds and refusals ----
BAUD = {300: termios.B300, 2400: termios.B2400, 9600: termios.B9600, 19200: termios.B19200}


class Line:
    """Our end of the pty, as a reader would open it."""

    def __init__(self, path):
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        self.buf = b""

    def speed(self, baud):
        a = termios.tcgetattr(self.fd)
        a[0] = 0
        a[1] = 0
        a[2] = (a[2] & ~termios.CSIZE) | termios.CS7 | termios.PARENB | termios.CREAD | termios.CLOCAL
        a[3] = 0
        a[4] = a[5] = BAUD[baud]
        termios.tcsetattr(self.fd, termios.TCSANOW, a)

    def send(self, b):
        os.write(self.fd, b)

    def until(self, pred, timeout):
        """Read until pred(bytes so far) holds or timeout seconds pass (0: what is there now)."""
        deadline = time.monotonic() + timeout
        while True:
            r, _, _ = select.select([self.fd], [], [], 0)
            if r:
                try:
                    self.buf += os.read(self.fd, 4096)
                except BlockingIOError:
                    pass
            if pred(self.buf):
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            select.select([self.fd], [], [], left)

    def take(self):
        b, self.buf = self.buf, b""
        return b

    def close(self):
        os.close(self.fd)


s, link = sim("raw", "--address", "42", "--baudrate", "9600")
try:
    ln = Line(link)
    # a sign-on at the wrong speed is not answered
    ln.speed(9600)
    ln.send(b"/?!\r\n")
    s.wait_lines(lambda p: logged(p, "sign-on at 9600 Bd ignored: expected 300 Bd"), 5)
    check(logged(s, "sign-on at 9600 Bd ignored: expected 300 Bd"), "a sign-on at 9600 Bd is refused and logged")
    # the simulator logs the refusal instead of answering: whatever it sent
    # would be there by now
    ln.until(lambda b: False, 0)
    check(ln.take() == b"", "... and nothing is sent")
    # another address: silent
    ln.speed(300)
    ln.send(b"/?43!\r\n")
    s.wait_lines(lambda p: logged(p, 'sign-on for address "43": no such meter'), 5)
    check(logged(s, 'sign-on for address "43": no such meter'), "a sign-on for another address is not answered")
    # the whole mode C session, by hand
    ln.send(b"\0\0\0/?42!\r\n")
    ok = ln.until(lambda b: b.endswith(b"\r\n"), 5)
    ident = ln.take()
    check(ok and ident == b"/SIM5IEC-SIMULATOR\r\n", "identification with baud character 5 (9600 Bd): %r" % ident)
    ln.send(b"\x06" + b"050\r\n")
    s.wait_lines(lambda p: logged(p, "readout at 9600 Bd requested"), 5)
    ln.speed(9600)
    ok = ln.until(lambda b: b"\x03" in b and len(b) > b.index(b"\x03") + 1, 5)
    msg = ln.take()
    bcc = 0
    for c in msg[1:-1]:
        bcc ^= c
    check(ok and msg[:1] == b"\x02" and msg.endswith(b"!\r\n\x03" + bytes([bcc])) and b"1-0:1.8.0(" in msg
          and b"0-0:C.1.0(42)" in msg,
          "data message STX .. !CRLF ETX with a correct BCC, serial number = address (%d bytes)" % len(msg))
    # an ACK asking for more than was offered
    ln.speed(300)
    ln.send(b"/?42!\r\n")
    ln.until(lambda b: b.endswith(b"\r\n"), 5)
    ln.take()
    ln.send(b"\x06" + b"060\r\n")
    s.wait_lines(lambda p: logged(p, "more than the 9600 Bd offered"), 5)
    check(logged(s, "more than the 9600 Bd offered: no answer"), "an ACK for 19200 Bd (9600 offered) is refused")
    # a request that is cut off does not block the next one
    ln.send(b"/?4")
    ln.send(b"2!\r\n")
    check(ln.until(lambda b: b.endswith(b"\r\n"), 5) and ln.take().startswith(b"/SIM5"),
          "a request in two pieces is answered")
    ln.close()
finally:
    stop_sim(s)


# ---- usage errors ----
def usage(*args):
    p = subprocess.run([SMARTMETER, "simulate"] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=10)
    return p.returncode, p.stderr.decode("utf-8", "replace")


notreadout = os.path.join(d, "not-a-readout.txt")
with open(notreadout, "w") as f:
    f.write("no identification line here\n")
for args, what in ((["-p", "iec62056-21", "--mode", "E"], "--mode E"),
                   (["-p", "iec62056-21", "--mode", "D", "--meter", "1"], "--meter with --mode D"),
                   (["-p", "iec62056-21", "--period", "1"], "--period in mode C"),
                   (["-p", "iec62056-21", "--meter", "1", "--meter", "1"], "an address given twice"),
                   (["-p", "iec62056-21", "--address", "a/b"], "an address with '/'"),
                   (["-p", "iec62056-21", "--mode", "B", "--baudrate", "300"], "mode B at 300 Bd"),
                   (["-p", "iec62056-21", "--fixture", notreadout], "a fixture without a readout"),
                   (["-p", "dsmr", "--mode", "C"], "--mode for dsmr")):
    code, err = usage(*args)
    check(code == 2 and err.startswith("E! "), "simulate %s is a usage error (exit %s) %s" % (what, code, err.strip()[:120]))

check(sim_exits and all(c == 0 and not b for c, b in sim_exits),
      "every simulator stopped with 0 on SIGTERM, without sanitizer reports %s"
      % [e for e in sim_exits if e[0] != 0 or e[1]][:2])
for p in procs:
    p.kill()
shutil.rmtree(d, ignore_errors=True)
finish()
