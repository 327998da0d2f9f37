"""`smartmeter simulate -p modbus` end to end, against an independent
master (mbpoll, built on libmodbus) and raw frames over TCP:

- on a pty: float and int32 registers equal the --values file, unknown
  and dead unit ids stay silent, exceptions 1, 2, 3 and 6 (busy every 2nd
  request), every request in --log-requests with its outcome;
- Modbus TCP (--listen): values, silence for unknown units, exception 2;
- RTU over TCP (--rtu-over-tcp) with hand-made frames: the answer's bytes
  and CRC, broken CRCs and garbage on every 2nd answer, late answers,
  --pace timing, a request split over several writes, noise before a
  request, a bad request CRC (no answer);
- SIGTERM: exit 0 and "I! served N requests".

Skipped (77) without mbpoll (Debian package mbpoll) or without the
simulator in this build."""
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import time

from smtest import SMARTMETER, Proc, check, finish, skip, tmpdir, wait_for

if not os.path.exists(SMARTMETER):
    skip("the smartmeter program was not built")
MBPOLL = shutil.which("mbpoll")
if MBPOLL is None:
    skip("mbpoll is not installed (Debian package mbpoll)")
_p = subprocess.run([SMARTMETER, "simulate", "--help"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
HELP = _p.stdout.decode("utf-8", "replace")
if "modbus" not in HELP:
    skip("simulate -p modbus is not in this build")

d = tmpdir("mbsim")
procs = []


def crc16(data):
    crc = 0xFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def rtu(unit, fc, addr, count):
    f = struct.pack(">BBHH", unit, fc, addr, count)
    return f + struct.pack("<H", crc16(f))


def load_values(path):
    by = {}
    with open(path) as f:
        for line in f:
            if line.strip():
                o = json.loads(line)
                by.setdefault(o["slave"], {})[o["name"]] = o
    return by


def mbpoll(*args, timeout=10):
    p = subprocess.run([MBPOLL] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    out = p.stdout.decode("utf-8", "replace")
    vals = {}
    for line in out.splitlines():
        line = line.strip()
        if line.startswith("[") and "]:" in line:
            ref, v = line[1:].split("]:", 1)
            vals[int(ref)] = float(v.strip())
    return p.returncode, vals, p.stderr.decode("utf-8", "replace")


def close_to(a, b):
    """mbpoll prints floats with 6 significant digits"""
    return abs(a - b) <= 6e-6 * max(1.0, abs(b))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start(name, argv, ready):
    p = Proc([SMARTMETER, "simulate", "-p", "modbus"] + argv)
    procs.append(p)
    if not wait_for(ready, 5.0):
        p.kill()
        p.pump(0)
        raise RuntimeError("%s: simulator did not start: %s" % (name, p.err))
    return p


def log_lines(path):
    with open(path) as f:
        return [l.split() for l in f if l.strip()]


try:
    # ---- --help lists every flag ----
    flags = ["--meter", "--values", "--listen", "--rtu-over-tcp", "--pace", "--baudrate", "--parity",
             "--proc-ms", "--log-requests", "--link", "--count", "late=MS", "crc", "busy", "garbage", "dead"]
    missing = [f for f in flags if f not in HELP]
    check(not missing, "simulate --help lists every modbus flag and fault%s" % (
        "" if not missing else " (missing %s)" % missing))

    # ---- usage errors ----
    for argv, what in ((["--meter", "0=sdm630"], "unit id 0"), (["--meter", "1=nosuch"], "unknown model"),
                       (["--meter", "1=sdm630:slow"], "unknown fault"), (["--meter", "1", "--meter", "1"],
                                                                         "a unit id twice"),
                       (["--rtu-over-tcp"], "--rtu-over-tcp without --listen"),
                       (["--baudrate", "12345"], "a baud rate libmodbus lacks"),
                       (["--fixture", "/dev/null"], "--fixture")):
        p = subprocess.run([SMARTMETER, "simulate", "-p", "modbus"] + argv, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=10)
        check(p.returncode == 2 and p.stderr.startswith(b"E! "), "usage error (exit 2): %s" % what)

    # ---- a bus on a pty ----
    link = os.path.join(d, "bus")
    values_path = os.path.join(d, "bus.values")
    reqlog = os.path.join(d, "bus.log")
    sim = start("pty", ["--link", link, "--values", values_path, "--log-requests", reqlog,
                        "--meter", "1=sdm630", "--meter", "2=em24", "--meter", "3=sdm630:dead",
                        "--meter", "4=sdm630:busy"],
                lambda: os.path.islink(link) and os.path.exists(values_path))
    values = load_values(values_path)
    check(sorted(values) == [1, 2, 3, 4], "--values holds every slave")
    check(all(set(values[k]) == set(values[1]) for k in (3, 4)), "slaves of one model have the same registers")
    check(values[1]["voltage_l1"]["unit"] == "V" and 220 < values[1]["voltage_l1"]["value"] < 240,
          "voltages around 230 V (%s)" % values[1]["voltage_l1"]["value"])
    check(0 < values[1]["power_factor"]["value"] < 1, "power factor below 1")
    check(values[1]["frequency"]["value"] == 50 or abs(values[1]["frequency"]["value"] - 50) < 0.1, "50 Hz")
    check(values[1]["energy_import"]["value"] > 1e6 > values[1]["energy_export"]["value"] > 0,
          "energy: some MWh imported, less exported")
    check(any(v["value"] < 0 for v in values[2].values() if v["unit"] == "W"),
          "a unit with an exporting phase has a negative power")
    check(values[1]["voltage_l1"] != values[2]["voltage_l1"], "units differ")
    tty = ["-m", "rtu", "-b", "9600", "-P", "none", "-1"]

    rc, got, err = mbpoll(*tty, "-a", "1", "-t", "3:float", "-B", "-r", "1", "-c", "6", link)
    want = [values[1][n]["value"] for n in ("voltage_l1", "voltage_l2", "voltage_l3", "current_l1",
                                            "current_l2", "current_l3")]
    check(rc == 0 and all(r in got for r in (1, 3, 5, 7, 9, 11)) and
          all(close_to(got[r], w) for r, w in zip((1, 3, 5, 7, 9, 11), want)),
          "mbpoll: sdm630 voltages and currents (FC04 float ABCD) equal --values (%s)" % got)
    rc, got, err = mbpoll(*tty, "-a", "1", "-t", "3:float", "-B", "-r", str(0x48 + 1), "-c", "2", link)
    check(rc == 0 and close_to(got.get(0x49, 0) * 1000, values[1]["energy_import"]["value"]) and
          close_to(got.get(0x4B, 0) * 1000, values[1]["energy_export"]["value"]),
          "mbpoll: sdm630 energies in kWh equal --values in Wh")
    rc, got, err = mbpoll(*tty, "-a", "2", "-t", "3:int", "-r", "1", "-c", "3", link)
    check(rc == 0 and all(close_to(got.get(1 + 2 * k, 0) / 10, values[2]["voltage_l%d" % (k + 1)]["value"])
                          for k in range(3)),
          "mbpoll: em24 voltages (int32 CDAB, 0.1 V) equal --values")

    t0 = time.monotonic()
    rc, got, err = mbpoll(*tty, "-a", "9", "-t", "3", "-r", "1", "-c", "2", "-o", "0.3", link)
    check(rc != 0 and "timed out" in err, "an unknown unit id is silent (%s)" % err.strip())
    rc, got, err = mbpoll(*tty, "-a", "3", "-t", "3", "-r", "1", "-c", "2", "-o", "0.3", link)
    check(rc != 0 and "timed out" in err, "a dead slave is silent")
    rc, got, err = mbpoll(*tty, "-a", "1", "-t", "3:float", "-B", "-r", "2", "-c", "2", link)
    check("Illegal data value" in err, "sdm630: an odd start address gets exception 3")
    rc, got, err = mbpoll(*tty, "-a", "1", "-t", "3:float", "-B", "-r", "1", "-c", "41", link)
    check("Illegal data value" in err, "sdm630: 82 registers in one request get exception 3")
    rc, got, err = mbpoll(*tty, "-a", "2", "-t", "3:int", "-r", "1", "-c", "6", link)
    check("Illegal data value" in err, "em24: 12 registers in one request get exception 3 (11 at most)")
    rc, got, err = mbpoll(*tty, "-a", "1", "-t", "4:float", "-B", "-r", "1", "-c", "2", link)
    check("Illegal data address" in err, "sdm630: holding registers (outside its map) get exception 2")
    rc, got, err = mbpoll(*tty, "-a", "1", "-t", "0", "-r", "1", "-c", "2", link)
    check("Illegal function" in err, "sdm630: coils (function 1) get exception 1")
    busy = [mbpoll(*tty, "-a", "4", "-t", "3:float", "-B", "-r", "1", "-c", "2", link) for _ in range(4)]
    check([b[0] == 0 for b in busy] == [True, False, True, False] and "busy" in busy[1][2],
          "a busy slave answers every 2nd request with exception 6")

    code, took = sim.stop()
    check(code == 0, "SIGTERM: the simulator exits 0 (%s)" % code)
    lines = log_lines(reqlog)
    outcomes = [l[5] for l in lines]
    check(all(len(l) == 6 and all(x.isdigit() for x in l[:5]) for l in lines),
          "--log-requests: MONO_MS SLAVE FC ADDR COUNT OUTCOME")
    check([l[1:] for l in lines if l[1] == "9"] == [["9", "4", "0", "2", "silent"]],
          "--log-requests: the unknown unit's request is logged silent")
    for o in ("ok", "silent", "exc1", "exc2", "exc3", "exc6"):
        check(o in outcomes, "--log-requests shows outcome %s" % o)
    mono = [int(l[0]) for l in lines]
    check(mono == sorted(mono), "--log-requests: times in order")
    served = [l for l in sim.err if l.startswith("I! served ")]
    ours = len([l for l in lines if l[1] != "9"])
    check(served == ["I! served %d requests" % ours], "\"I! served N requests\" on stop (%s, %d logged)" % (
        served, ours))

    # ---- Modbus TCP ----
    port = free_port()
    tvals = os.path.join(d, "tcp.values")
    sim = start("tcp", ["--listen", "127.0.0.1:%d" % port, "--meter", "7=sdm630", "--meter", "8=abb-b23",
                        "--values", tvals], lambda: os.path.exists(tvals))
    tv = load_values(tvals)
    tcp = ["-m", "tcp", "-p", str(port), "-1"]
    rc, got, err = mbpoll(*tcp, "-a", "7", "-t", "3:float", "-B", "-r", "1", "-c", "3", "127.0.0.1")
    check(rc == 0 and all(close_to(got.get(1 + 2 * k, 0), tv[7]["voltage_l%d" % (k + 1)]["value"])
                          for k in range(3)),
          "Modbus TCP: mbpoll reads the sdm630 voltages (%s)" % got)
    rc, got, err = mbpoll(*tcp, "-a", "8", "-t", "4:int", "-B", "-r", str(0x5B00 + 1), "-c", "1", "127.0.0.1")
    check(rc == 0 and close_to(got.get(0x5B01, 0) / 10, tv[8]["voltage_l1"]["value"]),
          "Modbus TCP: abb-b23 voltage (FC03 uint32 ABCD, 0.1 V) equals --values (%s)" % got)
    rc, got, err = mbpoll(*tcp, "-a", "9", "-t", "3", "-r", "1", "-c", "2", "-o", "0.3", "127.0.0.1")
    check(rc != 0 and "timed out" in err, "Modbus TCP: an unknown unit id is silent")
    rc, got, err = mbpoll(*tcp, "-a", "7", "-t", "4", "-r", "1", "-c", "2", "127.0.0.1")
    check("Illegal data address" in err, "Modbus TCP: exception 2")
    code, _ = sim.stop()
    check(code == 0, "Modbus TCP: SIGTERM exits 0")

    # ---- RTU over TCP, raw frames ----
    port = free_port()
    rvals = os.path.join(d, "rtu.values")
    sim = start("rtu+tcp", ["--listen", "127.0.0.1:%d" % port, "--rtu-over-tcp", "--values", rvals,
                            "--meter", "1=sdm630", "--meter", "2=sdm630:crc", "--meter", "3=sdm630:garbage",
                            "--meter", "4=sdm630:late=250", "--meter", "5=sdm120", "--pace", "--baudrate", "9600",
                            "--proc-ms", "10"],
                lambda: os.path.exists(rvals))
    rv = load_values(rvals)
    c = socket.create_connection(("127.0.0.1", port), timeout=5)
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def ask(frame, want_len, timeout=2.0, pieces=1):
        """Send frame (in pieces), return (answer bytes, seconds)."""
        t0 = time.monotonic()
        step = max(1, len(frame) // pieces)
        for i in range(0, len(frame), step):
            c.sendall(frame[i:i + step])
        buf = b""
        c.settimeout(0.05)
        deadline = t0 + timeout
        while len(buf) < want_len and time.monotonic() < deadline:
            try:
                chunk = c.recv(512)
            except socket.timeout:
                continue
            if not chunk:
                break
            buf += chunk
        return buf, time.monotonic() - t0

    a, took = ask(rtu(1, 4, 0, 2), 9)
    ok = len(a) == 9 and a[:3] == bytes([1, 4, 4]) and crc16(a) == 0
    check(ok and close_to(struct.unpack(">f", a[3:7])[0], rv[1]["voltage_l1"]["value"]),
          "rtu+tcp: the answer's bytes and CRC (%s)" % a.hex())
    # --pace: (8 + 9) characters of 10 bits at 9600 Bd + 2 x 3.5 characters + 10 ms = 35.0 ms
    check(0.033 <= took < 0.5, "--pace: the answer takes the bus time (%.1f ms, 35.0 expected)" % (took * 1000))
    a, took = ask(rtu(1, 4, 0x48, 4), 13, pieces=4)
    check(len(a) == 13 and crc16(a) == 0 and close_to(struct.unpack(">f", a[3:7])[0] * 1000,
                                                      rv[1]["energy_import"]["value"]),
          "rtu+tcp: a request written in pieces")
    a, took = ask(b"\x00\xff" + rtu(5, 4, 0, 2), 9)
    check(len(a) == 9 and a[0] == 5 and crc16(a) == 0, "rtu+tcp: noise before a request is skipped")
    bad = bytearray(rtu(1, 4, 0, 2))
    bad[-1] ^= 0xFF
    a, took = ask(bytes(bad), 1, timeout=0.3)
    check(a == b"", "rtu+tcp: a request with a bad CRC gets no answer")
    a1, _ = ask(rtu(2, 4, 0, 2), 9)
    a2, _ = ask(rtu(2, 4, 0, 2), 9)
    check(len(a1) == 9 and crc16(a1) == 0 and len(a2) == 9 and crc16(a2) != 0 and a1[:7] == a2[:7],
          "fault crc: every 2nd answer has a broken CRC")
    g1, _ = ask(rtu(3, 4, 0, 2), 9)
    g2, _ = ask(rtu(3, 4, 0, 2), 9)
    check(len(g1) == 9 and crc16(g1) == 0 and len(g2) == 9 and g2 != g1,
          "fault garbage: every 2nd answer is other bytes of the same length")
    a, took = ask(rtu(4, 4, 0, 2), 9)
    check(len(a) == 9 and crc16(a) == 0 and took >= 0.25, "fault late=250: the answer comes %.0f ms late" % (
        took * 1000))
    c.close()
    code, _ = sim.stop()
    check(code == 0, "rtu+tcp: SIGTERM exits 0")
    reports = [l for p in procs for l in p.err if "runtime error" in l or "Sanitizer" in l]
    check(not reports, "no sanitizer reports from any simulator %s" % reports[:3])
finally:
    for p in procs:
        p.kill()
finish()
