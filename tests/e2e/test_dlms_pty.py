"""Encrypted meters end to end over pseudo-terminals: `smartmeter simulate
-p dlms --key K` is an Austrian-style DLMS/COSEM push meter (M-Bus long
frames, HDLC or raw APDUs; security control 0x20, or 0x30 with an
AuthKey), `smartmeter simulate -p dsmr --key K` a Luxembourg Smarty meter,
and `smartmeter read` with the same key reads them.  A wrong key must be
reported clearly, rate limited, with no values; a KeyFile others can read
is warned about; and no key ever appears in the output of any process the
test runs (simulators, read, decode; stderr and stdout), however it is
written (upper or lower case, in groups, with 0x prefixes).

(`smartmeter decode -p dlms --key K --hex FILE` over the shared fixtures is
tested by the framers' fixture test; here decode reads bytes captured from
the simulator, with the right and a wrong key.)"""
import json
import os
import re
import shutil
import signal
import subprocess
import termios
import time
import tty

from smtest import (SMARTMETER, Proc, check, finish, skip, tmpdir, wait_for)

if not os.path.exists(SMARTMETER):
    skip("the smartmeter program was not built")


# every line any process of this test wrote (stdout and stderr), scanned for
# key material at the end: ("what", line)
run_lines = []
runs = [0]


def run(argv, timeout=20):
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    out, err = p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")
    runs[0] += 1
    what = argv[1]  # the command (the arguments may hold keys)
    run_lines.extend((what, l) for l in (out + "\n" + err).split("\n") if l)
    return p.returncode, out, err


h = run([SMARTMETER, "read", "--help"])[1]
if "--key" not in h or "--auth-key" not in h:
    skip("the --key flag is not in this build yet")
have_dlms = run([SMARTMETER, "read", "--check", "-p", "dlms", "-d", "/dev/null"])[0] == 0
if not have_dlms:
    print("note: Protocol \"dlms\" is not in this build yet: only the Smarty (dsmr) cases run", flush=True)

KEY = "8F3AC9E1D7B24F6A0C5E9D3B7A1F4E2C"
AUTH = "D1C2B3A4958677685F4E3D2C1B0A9F8E"
WRONG = "4B7E1A9C3D5F60718293A4B5C6D7E8F9"
SECRETS = (KEY, AUTH, WRONG)

d = tmpdir("dlms")
procs = []


def sim(name, proto, *args):
    """Start a simulator on a pty linked at d/name; wait for the link."""
    link = os.path.join(d, name)
    p = Proc([SMARTMETER, "simulate", "-p", proto, "--link", link] + list(args))
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


def latest(p):
    """name -> the last record of that name."""
    return {o["name"]: o for o in objs(p)}


def seen(p, text, timeout=5):
    return p.wait_lines(lambda q: any(text in l for l in q.err), timeout)


def stop(p):
    code, _ = p.stop(signal.SIGTERM)
    return code


# name -> (unit, low, high): what the built-in Austrian-style meter sends
WANT = {
    "energy_import": ("Wh", 4.7e6, 1e9),
    "energy_export": ("Wh", 1.2e6, 1e9),
    "power_import": ("W", 0, 5000),
    "power_export": ("W", 0, 5000),
    "voltage_l1": ("V", 220, 240),
    "voltage_l2": ("V", 220, 240),
    "voltage_l3": ("V", 220, 240),
    "current_l1": ("A", 0, 20),
    "current_l2": ("A", 0, 20),
    "current_l3": ("A", 0, 20),
    "power_factor": ("", 0.8, 1.0),
}


def has_all(p):
    got = latest(p)
    return all(n in got for n in WANT)


def check_values(p, what):
    got = latest(p)
    bad = []
    for n, (unit, lo, hi) in WANT.items():
        o = got.get(n)
        if o is None or o.get("unit") != unit or not (lo <= o.get("value", -1e99) <= hi):
            bad.append((n, o))
    check(not bad, "%s: names, units and plausible values %s" % (what, bad[:3]))
    o = got.get("voltage_l1", {})
    check(o.get("obis") == "1-0:32.7.0" and o.get("time", 1) % 1000 == 0,
          "%s: voltage_l1 carries OBIS 1-0:32.7.0 and the meter's own (whole-second) time" % what)
    texts = [x.get("text") for x in objs(p) if "text" in x]
    check("1SIM0123456789" in texts, "%s: the meter number comes as a text reading %s" % (what, texts[:2]))


# ---- DLMS over M-Bus, HDLC and raw, both security levels, both layouts ----
CASES = (
    # (name, simulator args, reader args, line)
    ("mbus-sc20", ["--key", KEY], ["--key", KEY], "2400"),
    ("mbus-sc30", ["--key", KEY, "--auth-key", AUTH], ["--key", KEY, "--auth-key", AUTH], "2400"),
    ("mbus-structs", ["--key", KEY, "--auth-key", AUTH, "--layout", "structs"],
     ["--key", KEY, "--auth-key", AUTH, "--framing", "mbus"], "2400"),
    ("hdlc-sc30", ["--framing", "hdlc", "--key", KEY, "--auth-key", AUTH],
     ["--framing", "hdlc", "--key", KEY, "--auth-key", AUTH], "2400"),
    ("hdlc-sc20", ["--framing", "hdlc", "--key", KEY, "--security", "20"],
     ["--framing", "hdlc", "--key", KEY], "2400"),
    ("raw-sc21", ["--framing", "raw", "--key", KEY, "--security", "21"],
     ["--framing", "raw", "--key", KEY], "2400"),
    ("mbus-plain", [], [], "2400"),
)
for name, sargs, rargs, baud in CASES if have_dlms else ():
    s = r = None
    try:
        s, link = sim(name, "dlms", "--period", "0.2", *sargs)
        r = reader("-p", "dlms", "-d", link, "--name", "at", *rargs)
        ok = r.wait_lines(has_all, 15)
        check(ok, "%s: read -p dlms %s gives every reading of the meter (%s)"
              % (name, " ".join(a for a in rargs if a not in SECRETS), sorted(latest(r))[:6]))
        check_values(r, name)
        check(seen(s, "the reader's line is at %s Bd" % baud),
              "%s: the reader opened the line at %s Bd (the default of its framing)" % (name, baud))
        errs = [l for l in r.err if l.startswith("E! ")]
        check(not errs, "%s: no errors %s" % (name, errs[:2]))
    except RuntimeError as e:
        check(False, "%s: %s" % (name, e))
    finally:
        if r is not None:
            check(stop(r) == 0, "%s: read exits 0 on SIGTERM" % name)
        if s is not None:
            stop(s)


def wrong_key_case(name, proto, sargs, rargs, want):
    """The meter sends 12 frames; the reader has the wrong key: no values,
    the problem is said clearly, once (rate limited), not per frame."""
    s = r = None
    try:
        s, link = sim(name, proto, "--period", "0.1", "--count", "12", *sargs)
        r = reader("-p", proto, "-d", link, *rargs)
        check(seen(r, want, 10), "%s: the reader says %r" % (name, want))
        # the simulator exits after its 12 frames, once the reader took them
        s.p.wait(15)
        r.pump(0.3)
        lines = [l for l in r.err if want in l]
        check(1 <= len(lines) <= 2, "%s: said %d time(s) for 12 frames (rate limited) %s"
              % (name, len(lines), lines[:3]))
        check(not objs(r), "%s: no values from frames that do not open (%d)" % (name, len(objs(r))))
    except (RuntimeError, subprocess.TimeoutExpired) as e:
        check(False, "%s: %s" % (name, e))
    finally:
        if r is not None:
            stop(r)
        if s is not None:
            stop(s)


if have_dlms:
    # no tag (0x20): the plaintext is garbage, which only the APDU check sees
    wrong_key_case("dlms-wrong-key", "dlms", ["--key", KEY], ["--key", WRONG], "check Key")
    # tag (0x30): the tag fails
    wrong_key_case("dlms-wrong-key-sc30", "dlms", ["--key", KEY, "--auth-key", AUTH],
                   ["--key", WRONG, "--auth-key", AUTH], "authentication failed")
    wrong_key_case("dlms-wrong-auth-key", "dlms", ["--key", KEY, "--auth-key", AUTH],
                   ["--key", KEY, "--auth-key", WRONG], "authentication failed")

# ---- Luxembourg Smarty: DSMR inside general-glo-ciphering ----
for name, sargs, rargs in (
        ("smarty-sc30", ["--key", KEY, "--auth-key", AUTH], ["--key", KEY, "--auth-key", AUTH]),
        ("smarty-sc20", ["--key", KEY], ["--key", KEY])):
    s = r = None
    try:
        s, link = sim(name, "dsmr", "--period", "0.2", *sargs)
        r = reader("-p", "dsmr", "-d", link, *rargs)
        ok = r.wait_lines(lambda p: {"energy_import_t1", "power_import", "gas_volume"} <= set(latest(p)), 15)
        got = latest(r)
        check(ok and got["energy_import_t1"]["unit"] == "Wh" and got["gas_volume"]["unit"] == "m3",
              "%s: read -p dsmr --key gives the telegram's readings (%s)" % (name, sorted(got)[:5]))
        check(seen(s, "Luxembourg Smarty frames", 1), "%s: the simulator sends Smarty frames" % name)
        errs = [l for l in r.err if l.startswith("E! ")]
        check(not errs, "%s: no errors %s" % (name, errs[:2]))
    except RuntimeError as e:
        check(False, "%s: %s" % (name, e))
    finally:
        if r is not None:
            stop(r)
        if s is not None:
            stop(s)
wrong_key_case("smarty-wrong-key", "dsmr", ["--key", KEY, "--auth-key", AUTH],
               ["--key", WRONG, "--auth-key", AUTH], "authentication failed")
wrong_key_case("smarty-wrong-key-sc20", "dsmr", ["--key", KEY], ["--key", WRONG], "check Key")

# ---- KeyFile ----
kf_open = os.path.join(d, "open.key")
kf_private = os.path.join(d, "private.key")
for path, mode in ((kf_open, 0o644), (kf_private, 0o600)):
    with open(path, "w") as f:
        f.write(KEY.lower() + "\n")
    os.chmod(path, mode)
s = r = None
try:
    s, link = sim("keyfile", "dsmr", "--period", "0.2", "--key-file", kf_private)
    r = reader("-p", "dsmr", "-d", link, "--key-file", kf_open)
    ok = r.wait_lines(lambda p: "energy_import_t1" in latest(p), 15)
    check(ok, "read --key-file reads the meter")
    warn = [l for l in r.err if l.startswith("W! ") and "--key-file" in l]
    check(len(warn) == 1 and "readable by group and others (mode 0644)" in warn[0] and kf_open in warn[0],
          "a key file of mode 0644 is warned about once: %s" % warn)
    check(not [l for l in s.err if l.startswith("W! ")], "a key file of mode 0600 is not warned about")
except RuntimeError as e:
    check(False, "keyfile: %s" % e)
finally:
    if r is not None:
        stop(r)
    if s is not None:
        stop(s)
conf = os.path.join(d, "smarty.conf")
with open(conf, "w") as f:
    f.write('<Meter "lu">\n  Protocol "dsmr"\n  Device "/dev/ttyUSB0"\n  KeyFile "%s"\n'
            '  AuthKey "%s"\n</Meter>\n' % (kf_open, AUTH))
code, out, err = run([SMARTMETER, "read", "--check", "-c", conf])
check(code == 0 and "configuration OK" in out
      and re.search(r'^W! meter "lu": KeyFile: "%s" is readable by group and others' % re.escape(kf_open),
                    err, re.M),
      "read --check -c with a KeyFile of mode 0644: valid, with a warning naming the meter (%s) %s"
      % (code, err.strip()[:200]))

# ---- bad keys: usage errors that never quote the key ----
for args, want in (
        (["--key", KEY[:31]], "--key: expected 32 hex digits (an AES-128 key), got 31 characters"),
        (["--key", "0x" + KEY], "got 34 characters"),
        (["--key", KEY, "--auth-key", AUTH + "0"], "--auth-key: expected 32 hex digits"),
        (["--key-file", KEY], "--key-file: expected the path of a file holding the key, got 32 hex digits"),
        (["--key", KEY, "--key-file", kf_private], "give the key either with --key or with --key-file")):
    for cmd in (["read", "-p", "dsmr", "-d", "/dev/null", "--check"], ["simulate", "-p", "dsmr", "--count", "1"]):
        code, out, err = run([SMARTMETER] + cmd + args)
        check(code == 2 and want in err, "%s %s: exit 2, %r (%s: %s)"
              % (cmd[0], args[0], want, code, err.strip()[:160]))

# ---- a key where another argument belongs: refused, not echoed ----
for argv, want in (
        (["read", "-p", "dsmr", "-d", "/dev/null", "--check", KEY], "unexpected argument of 32 characters"),
        (["simulate", "-p", "dsmr", "--count", "1", KEY.lower()], "unexpected argument of 32 characters"),
        (["decode", "-p", "dsmr", KEY], "cannot read the input file given (32 characters"),
        (["probe", "--key=" + KEY], "probe: expected a DEVICE, got 38 characters"),
        (["read", "-p", "dsmr", "-d", "/dev/null", "--check", "--key-file", KEY[:31]],
         "--key-file: cannot open the file given (31 characters"),
        (["read", "-p", "dsmr", "-d", "/dev/null", "--kee=" + KEY], "a bad option of 38 characters"),
        (["decode", "-p", "dsmr", "--kye", KEY.lower(), "/dev/null"], "unknown option --kye"),
        (["simulate", "-p", "dsmr", "-K" + KEY], "unknown option -K ")):
    code, out, err = run([SMARTMETER] + argv)
    check(code == 2 and want in err, "%s with a key in the wrong place: exit 2, %r (%s: %s)"
          % (argv[0], want, code, err.strip()[:160]))


# ---- decode: bytes captured from the simulator, right and wrong keys ----
def capture(name, proto, args, count, timeout=10):
    """Run the simulator for count frames and return the bytes it sent."""
    s, link = sim(name, proto, "--period", "0.05", "--count", str(count), *args)
    fd = os.open(link, os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK)
    data = b""
    try:
        tty.setraw(fd)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = os.read(fd, 65536)
            except BlockingIOError:
                chunk = None
            except OSError:  # the simulator closed its side
                break
            if chunk:
                data += chunk
            elif s.p.poll() is not None:
                break
            else:
                s.pump(0.02)
    finally:
        os.close(fd)
        stop(s)
    return data


decode_cases = [("smarty", "dsmr", ["--key", KEY, "--auth-key", AUTH], [])]
if have_dlms:
    decode_cases.append(("dlms-raw", "dlms", ["--framing", "raw", "--key", KEY, "--auth-key", AUTH],
                         ["--framing", "raw"]))
for name, proto, sargs, dargs in decode_cases:
    try:
        data = capture("cap-" + name, proto, sargs, 6)
        check(len(data) > 100, "%s: %d bytes captured from the simulator" % (name, len(data)))
        path = os.path.join(d, name + ".bin")
        with open(path, "wb") as f:
            f.write(data)
        code, out, err = run([SMARTMETER, "decode", "-p", proto, "--key", KEY, "--auth-key", AUTH] + dargs + [path])
        check(code == 0 and '"name":' in out, "%s: decode with the right keys: values (%s %s)"
              % (name, code, err.strip()[:160]))
        for keys in (["--key", WRONG, "--auth-key", AUTH], ["--key", KEY, "--auth-key", WRONG]):
            code, out, err = run([SMARTMETER, "decode", "-p", proto] + keys + dargs + [path])
            check(code == 1 and not out.strip() and "authentication failed" in err,
                  "%s: decode with a wrong %s: no value, 'authentication failed' (%s %s)"
                  % (name, "Key" if keys[1] == WRONG else "AuthKey", code, err.strip()[:160]))
    except (RuntimeError, OSError, termios.error) as e:
        check(False, "decode %s: %s" % (name, e))


# ---- no key in any output of any process ----
def key_pieces(k):
    """Every 12-digit run of key k, lower case."""
    k = k.lower()
    return {k[i:i + 12] for i in range(len(k) - 11)}


PIECES = set()
for k in SECRETS:
    PIECES |= key_pieces(k)
SHORT = set()
for k in SECRETS:
    SHORT |= {k.lower()[i:i + 6] for i in range(len(k) - 5)}


def squeeze(line):
    """The hex digits of a line, lower case, without 0x prefixes: a key written
    in groups ("8F 3A C9", "8f:3a:c9", "0x8F, 0x3A", "8F3AC9E1 D7B24F6A") joins up."""
    low = re.sub(r"0x(?=[0-9a-f])", "", line.lower())
    return re.sub(r"[^0-9a-f]", "", low)


def leaks_key(line):
    low = line.lower()
    sq = squeeze(line)
    return any(p in sq for p in PIECES) or any(p in low for p in SHORT)


# the check itself sees keys however they are written
for sample in (KEY, KEY.lower(), " ".join(KEY[i:i + 2] for i in range(0, 32, 2)),
               ":".join(AUTH[i:i + 2].lower() for i in range(0, 32, 2)),
               ", ".join("0x" + WRONG[i:i + 2] for i in range(0, 32, 2)),
               " ".join(KEY[i:i + 8] for i in range(0, 32, 8))):
    check(leaks_key("x " + sample + " y"), "the key check sees %r" % sample[:20])
check(not leaks_key('E! meter "at" (/tmp/sm-dlms-x/mbus-sc20): decrypted data is not a DLMS APDU: check Key'),
      "the key check passes a message without key")

for p in procs:
    p.kill()
    p.pump(0)
    while p.sel.get_map():
        p.pump(0.05)
lines = list(run_lines)
for p in procs:
    what = p.argv[1]
    lines.extend((what, l) for l in p.err + p.out if l)
leaks = [(w, l) for w, l in lines if leaks_key(l)]
print("scanned %d output lines of %d processes for key material" % (len(lines), len(procs) + runs[0]),
      flush=True)
check(len(lines) > 50 and not leaks, "no key digits in any of %d output lines %s" % (len(lines), leaks[:2]))

for p in procs:
    p.kill()
shutil.rmtree(d, ignore_errors=True)
finish()
