#!/usr/bin/env python3
"""DSMR fixture conformance: every $SM_SHARED/fixtures/dsmr/*.txt through
`smartmeter decode -p dsmr --format json`, compared with what the fixture's
SOURCE asserts and with the builder's parse in its .expected.json:

  * ndokter/dsmr_parser fixtures: "source_asserts" (value and unit asserts,
    converted to base units: kWh -> Wh, kW -> W, kvarh -> varh, ...);
  * athombv/node-dsmr-parser fixtures: "source_expected_output": the
    "electricity" values (already Wh/W/V/A), event counters, ids, the meter
    time and the "mBus" channels (value, device type, id, timestamp);
  * every fixture: each numeric reading with a unit in "values".

Fixtures whose CRC is wrong in their source (crc16.valid == false) must be
rejected by default (exit 1, reason on stderr) and give the asserted values
with --ignore-checksum.  Fixtures without a '!' end line (crc16.end_marker
== false) are DSMR 2.2 telegrams of meters that never send one: they end
at a complete line followed by silence (here: the end of the file), carry
no version that requires a CRC, and must decode to the asserted values.

Timestamps: athombv prints DSMR local time as if it were UTC ("...Z"), so its
times are shifted back by the telegram's S (UTC+2) / W (UTC+1) letter before
they are compared with our unix milliseconds.

Encrypted fixtures (*encrypted*.bin, Luxembourg Smarty frames: DLMS
general-glo-ciphering around a telegram) go through `smartmeter decode -p dsmr
--key K [--auth-key A]` with the key and AAD their .expected.json names, and
must give the values of their decrypted fixture (its own .expected.json).
An inner CRC that is wrong in the source is accepted (with a warning) only
because the GCM tag authenticated the frame; a flipped ciphertext bit, a
wrong key and a missing AuthKey (where the tag used one) give no value.
These checks are skipped while `decode` has no --key flag.

Prints one line per check and "N passed, M failed"; exit 0 when nothing
failed, 1 otherwise, 77 (skipped) without fixtures or without the program.
Python 3 standard library only.
"""
import glob
import json
import os
import re
import subprocess
import sys
import tempfile
from datetime import datetime, timedelta, timezone
from decimal import Decimal

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.environ.get("top_srcdir") or os.path.normpath(os.path.join(HERE, "..", ".."))
BUILDDIR = os.environ.get("top_builddir") or SRCDIR
SHARED = os.environ.get("SM_SHARED") or os.path.join(SRCDIR, "..", "shared")
FIXDIR = os.path.join(SHARED, "fixtures", "dsmr")
EXE = os.path.join(BUILDDIR, "smartmeter")

# unit text (lower case) -> (base unit as our JSON prints it, factor)
UNITS = {
    "wh": ("Wh", 1), "kwh": ("Wh", 1000), "mwh": ("Wh", 1000000),
    "varh": ("varh", 1), "kvarh": ("varh", 1000),
    "vah": ("VAh", 1), "kvah": ("VAh", 1000),
    "w": ("W", 1), "kw": ("W", 1000), "mw": ("W", 1000000),
    "var": ("var", 1), "kvar": ("var", 1000),
    "va": ("VA", 1), "kva": ("VA", 1000),
    "v": ("V", 1), "a": ("A", 1), "hz": ("Hz", 1), "s": ("s", 1),
    "m3": ("m3", 1), "gj": ("GJ", 1),
}

# Source asserts that do not describe an object of the telegram, with why.
KNOWN_SKIPS = {
    ("dsmr50_iskra.txt", "MBUS_METER_READING", "unit", None):
        "asserts the default unit of M-Bus channel 2, which has no reading line",
    ("dsmr50_iskra.txt", "MBUS_METER_READING", "value", "0.0"):
        "asserts the default value of M-Bus channel 2, which has no reading line",
}

passed = 0
failed = 0


def report(ok, fixture, what, detail=""):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
    line = "%s %s: %s" % ("PASS" if ok else "FAIL", fixture, what)
    if detail and not ok:
        line += " (" + detail + ")"
    print(line)


def note(fixture, what):
    print("SKIP %s: %s" % (fixture, what))


def decode(path, ignore, extra=()):
    cmd = [EXE, "decode", "-p", "dsmr", "--format", "json"]
    if ignore:
        cmd.append("--ignore-checksum")
    cmd += list(extra)
    cmd.append(path)
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    recs = []
    for line in p.stdout.decode("utf-8", "replace").splitlines():
        if line.strip():
            recs.append(json.loads(line, parse_float=Decimal, parse_int=Decimal))
    return p.returncode, recs, p.stderr.decode("utf-8", "replace")


def our_obis(code):
    """The code our output uses for a code as the fixture names it."""
    if code.endswith("*255"):
        code = code[:-4]
    m = re.match(r"^0-(\d+):24\.3\.0$", code)
    if m:  # DSMR 2.2/3 header: the value carries the code it names
        return "0-%s:24.2.1" % m.group(1)
    return code


def base(value, unit):
    """(Decimal value, base unit text) of a value in a meter's unit."""
    v = Decimal(str(value))
    if unit is None:
        return v, ""
    u, f = UNITS.get(unit.lower(), (unit, 1))
    return v * f, u


def fmt(d):
    """A Decimal without exponent or trailing zeros: 25653, 0.006."""
    t = format(Decimal(d).normalize(), "f")
    return t


def close(a, b):
    a, b = Decimal(a), Decimal(b)
    return abs(a - b) <= Decimal("1e-9") * max(Decimal(1), abs(b))


def is_number(x):
    return isinstance(x, (int, float, Decimal)) and not isinstance(x, bool)


def value_matches(rec, expected):
    """expected: Decimal, str (numeric or text) or None (empty text)."""
    if expected is None:
        return rec.get("text") == ""
    if isinstance(expected, str):
        if "text" in rec:
            return rec["text"] == expected
        try:
            return close(rec["value"], Decimal(expected))
        except ArithmeticError:
            return False
    if "text" in rec:  # a text object the source reads as a number (96.13.1)
        try:
            return close(Decimal(rec["text"]), expected)
        except ArithmeticError:
            return False
    return "value" in rec and close(rec["value"], expected)


def describe(recs):
    return ", ".join("%s=%s%s" % (r["obis"], r.get("value", repr(r.get("text"))),
                                  r.get("unit", "")) for r in recs) or "no reading"


class Index:
    def __init__(self, recs):
        self.recs = recs
        self.by_obis = {}
        for r in recs:
            self.by_obis.setdefault(r["obis"], []).append(r)

    def get(self, codes):
        out = []
        for c in codes:
            out += self.by_obis.get(our_obis(c), [])
        return out

    def electricity(self, cde):
        """Readings 1-B:C.D.E for any B (Sagemcom XT211 uses B = 1)."""
        rx = re.compile(r"^1-\d+:" + re.escape(cde) + r"$")
        return [r for r in self.recs if rx.match(r["obis"])]


def raw_time_ms(text):
    """Unix ms of a DSMR 'YYMMDDhhmmssX' text; None when no S/W or invalid."""
    m = re.match(r"^(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)([SW])$", text or "")
    if not m or int(m.group(1)) >= 70:
        return None
    try:
        t = datetime(2000 + int(m.group(1)), int(m.group(2)), int(m.group(3)), int(m.group(4)),
                     int(m.group(5)), int(m.group(6)), tzinfo=timezone.utc)
    except ValueError:
        return None
    t -= timedelta(hours=2 if m.group(7) == "S" else 1)
    return int(t.timestamp() * 1000)


def athombv_ms(iso, letter):
    """athombv's local-time-as-UTC ISO text shifted by the S/W letter."""
    t = datetime.strptime(iso.replace("Z", ""), "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=timezone.utc)
    t -= timedelta(hours=2 if letter == "S" else 1)
    return int(t.timestamp() * 1000)


def check_ndokter(fx, exp, idx):
    for blk in exp.get("source_asserts") or []:
        if not isinstance(blk, dict):
            continue
        asserts = blk.get("asserts") or []
        for i, a in enumerate(asserts):
            name, attr, asserted, codes = a.get("name"), a.get("attr"), a.get("asserted"), a.get("obis")
            if attr not in ("unit", "value"):
                continue
            key = (fx, name, attr, None if asserted is None else str(asserted))
            what = "source asserts %s %s = %r" % (name, attr, asserted)
            if key in KNOWN_SKIPS:
                note(fx, "%s: %s" % (what, KNOWN_SKIPS[key]))
                continue
            if not codes:
                note(fx, what + ": the source names no object for it")
                continue
            if codes == ["0-0:1.0.0"]:
                note(fx, what + ": the meter time is the readings' time, not a reading")
                continue
            recs = idx.get(codes)
            if attr == "unit":
                want = "" if asserted is None else base(1, asserted)[1]
                ok = any(r.get("unit", "") == want for r in recs)
                report(ok, fx, "%s (unit %r)" % (what, want), describe(recs))
                continue
            # the unit assert of the same object comes just before its value
            unit = None
            for j in range(i - 1, -1, -1):
                if asserts[j].get("name") == name and asserts[j].get("attr") == "unit":
                    unit = asserts[j].get("asserted")
                    break
            if is_number(asserted):
                want, wunit = base(asserted, unit)
                ok = any(value_matches(r, want) and (unit is None or r.get("unit") == wunit)
                         for r in recs)
                report(ok, fx, "%s (%s %s)" % (what, fmt(want), wunit), describe(recs))
            else:
                ok = any(value_matches(r, asserted) for r in recs)
                report(ok, fx, what, describe(recs))


ELECTRICITY = [
    (("total", "received"), "1.8.0"), (("total", "returned"), "2.8.0"),
    (("powerReceivedTotal",), "1.7.0"), (("powerReturnedTotal",), "2.7.0"),
]
for _t in "123456789":
    ELECTRICITY += [(("tariffs", _t, "received"), "1.8." + _t), (("tariffs", _t, "returned"), "2.8." + _t)]
for _n, (_v, _c, _pi, _pe) in enumerate([("32", "31", "21", "22"), ("52", "51", "41", "42"),
                                           ("72", "71", "61", "62")]):
    _l = "l%d" % (_n + 1)
    ELECTRICITY += [(("voltage", _l), _v + ".7.0"), (("current", _l), _c + ".7.0"),
                    (("powerReceived", _l), _pi + ".7.0"), (("powerReturned", _l), _pe + ".7.0")]


def dig(d, path):
    for p in path:
        if not isinstance(d, dict) or p not in d:
            return None
        d = d[p]
    return d


def check_athombv(fx, exp, idx, telegram):
    out = exp.get("source_expected_output")
    if not isinstance(out, dict):
        return
    el = out.get("electricity") or {}
    for path, cde in ELECTRICITY:
        v = dig(el, path)
        if v is None:
            continue
        recs = idx.electricity(cde)
        report(any(value_matches(r, Decimal(str(v))) for r in recs), fx,
               "source electricity.%s = %s (1-x:%s)" % (".".join(path), v, cde), describe(recs))
    if "currentTariff" in el:
        recs = idx.get(["0-0:96.14.0"])
        report(any(value_matches(r, Decimal(el["currentTariff"])) for r in recs), fx,
               "source electricity.currentTariff = %s" % el["currentTariff"], describe(recs))

    md = out.get("metadata") or {}
    ev = md.get("events") or {}
    for key, code in (("powerFailures", "0-0:96.7.21"), ("longPowerFailures", "0-0:96.7.9")):
        if key in ev:
            recs = idx.get([code])
            report(any(value_matches(r, Decimal(ev[key])) for r in recs), fx,
                   "source events.%s = %s" % (key, ev[key]), describe(recs))
    for key, d in (("voltageSags", "32"), ("voltageSwells", "36")):
        for n, c in (("l1", "32"), ("l2", "52"), ("l3", "72")):
            v = dig(ev, (key, n))
            if v is not None:
                recs = idx.get(["1-0:%s.%s.0" % (c, d)])
                report(any(value_matches(r, Decimal(v)) for r in recs), fx,
                       "source events.%s.%s = %s" % (key, n, v), describe(recs))
    if "equipmentId" in md:
        recs = idx.get(["0-0:96.1.1"])
        report(any(value_matches(r, md["equipmentId"]) for r in recs), fx,
               "source metadata.equipmentId = %r" % md["equipmentId"], describe(recs))
    if "textMessage" in md:
        recs = idx.get(["0-0:96.13.0"])
        report(any(value_matches(r, md["textMessage"]) for r in recs), fx,
               "source metadata.textMessage = %r" % md["textMessage"], describe(recs))
    if "timestamp" in md:
        m = re.search(r"^0-0:1\.0\.0\((\d{12}[SW]?)\)", telegram, re.M)
        raw = m.group(1) if m else None
        if raw is None or raw_time_ms(raw) is None:
            note(fx, "source metadata.timestamp %s: the telegram's time %r is not a valid "
                 "DSMR time, so the readings carry none" % (md["timestamp"], raw))
        else:
            want = athombv_ms(md["timestamp"], raw[-1])
            recs = [r for r in idx.recs if r["obis"].startswith("1-") and
                    re.match(r"^1-\d+:(1|2)\.8\.\d$", r["obis"])]
            report(bool(recs) and all(int(r["time"]) == want for r in recs), fx,
                   "source metadata.timestamp = %s (%d ms)" % (md["timestamp"], want),
                   ", ".join("%s@%s" % (r["obis"], r["time"]) for r in recs))

    raw_ch = exp.get("mbus_channels") or {}
    for ch, mb in sorted((out.get("mBus") or {}).items()):
        if "deviceType" in mb:
            recs = idx.get(["0-%s:24.1.0" % ch])
            report(any(value_matches(r, Decimal(mb["deviceType"])) for r in recs), fx,
                   "source mBus.%s.deviceType = %s" % (ch, mb["deviceType"]), describe(recs))
        if "equipmentId" in mb:
            recs = idx.get(["0-%s:96.1.0" % ch, "0-%s:96.1.1" % ch])
            report(any(value_matches(r, mb["equipmentId"]) for r in recs), fx,
                   "source mBus.%s.equipmentId = %r" % (ch, mb["equipmentId"]), describe(recs))
        if "value" in mb:
            want, wunit = base(mb["value"], mb.get("unit"))
            recs = idx.get(["0-%s:24.2.1" % ch, "0-%s:24.2.3" % ch])
            report(any(value_matches(r, want) and r.get("unit") == wunit for r in recs), fx,
                   "source mBus.%s.value = %s %s" % (ch, fmt(want), wunit), describe(recs))
            raw = (raw_ch.get(ch) or {}).get("timestamp")
            if "timestamp" in mb:
                if raw_time_ms(raw) is None:
                    note(fx, "source mBus.%s.timestamp %s: the telegram's %r has no S/W "
                         "letter or is invalid, so the reading carries no time of its own"
                         % (ch, mb["timestamp"], raw))
                else:
                    t = athombv_ms(mb["timestamp"], raw[-1])
                    report(any(int(r["time"]) == t for r in recs), fx,
                           "source mBus.%s.timestamp = %s (%d ms)" % (ch, mb["timestamp"], t),
                           ", ".join("%s@%s" % (r["obis"], r["time"]) for r in recs))


def check_values(fx, exp, idx):
    for code, v in (exp.get("values") or {}).items():
        if not isinstance(v, dict) or not v.get("unit") or not is_number(v.get("value")):
            continue
        want, wunit = base(v["value"], v["unit"])
        recs = idx.get([code])
        report(any(value_matches(r, want) and r.get("unit") == wunit for r in recs), fx,
               "values %s = %s %s" % (code, fmt(want), wunit), describe(recs))


def has_key_flags():
    p = subprocess.run([EXE, "decode", "--help"], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=60)
    text = p.stdout.decode("utf-8", "replace")
    return "--key" in text and "--auth-key" in text


def check_encrypted(path):
    """A Smarty .bin: decrypted and decoded to its decrypted fixture's values."""
    fx = os.path.basename(path)
    jpath = path[:-4] + ".expected.json"
    if not os.path.exists(jpath):
        note(fx, "no .expected.json")
        return
    with open(jpath, encoding="utf-8") as f:
        exp = json.load(f, parse_float=Decimal)
    enc = exp.get("encryption") or {}
    key = enc.get("key")
    dec = exp.get("decrypted_fixture")
    if not key or not dec:
        note(fx, "no key or no decrypted fixture named")
        return
    aad = enc.get("aad_full")
    auth = aad[2:] if aad else None
    if aad:
        report(len(aad) == 34 and aad[:2].lower() == enc.get("security_control", "30").lower(), fx,
               "AAD is the security control byte and a 16-byte AuthKey", aad)
    dpath = os.path.join(FIXDIR, dec)
    djpath = dpath[:-4] + ".expected.json"
    with open(djpath, encoding="utf-8") as f:
        dexp = json.load(f, parse_float=Decimal)
    with open(dpath, "rb") as f:
        telegram = f.read().decode("latin-1")
    keyargs = ["--key", key] + (["--auth-key", auth] if auth else [])

    rc, recs, err = decode(path, False, keyargs)
    inner_bad = (dexp.get("crc16") or {}).get("valid") is False
    report(rc == 0 and len(recs) > 0, fx, "decrypted with the fixture's key%s" % (
        " and AuthKey" if auth else " (tag over an empty AAD, no AuthKey)"),
        "exit %d, %r" % (rc, err.strip()))
    if inner_bad:
        report("inner CRC" in err, fx, "inner CRC wrong in the source: accepted on the GCM tag, "
               "with a warning", err.strip())
    idx = Index(recs)
    check_ndokter(fx, dexp, idx)
    check_athombv(fx, dexp, idx, telegram)
    check_values(fx, dexp, idx)

    # the same frame damaged, or with the wrong keys: no value
    with open(path, "rb") as f:
        data = bytearray(f.read())
    bad = bytearray(data)
    bad[len(bad) // 2] ^= 0x01
    with tempfile.NamedTemporaryFile(suffix=".bin") as tmp:
        tmp.write(bad)
        tmp.flush()
        rc, recs, err = decode(tmp.name, False, keyargs)
    report(rc == 1 and not recs and "authentication failed" in err, fx,
           "a flipped ciphertext bit: authentication failed, no value",
           "exit %d, %d readings, %r" % (rc, len(recs), err.strip()))
    wrong = "%032X" % (int(key, 16) ^ 1)
    rc, recs, err = decode(path, False, ["--key", wrong] + keyargs[2:])
    report(rc == 1 and not recs and "authentication failed" in err and wrong not in err.upper(),
           fx, "a wrong key: authentication failed, no value, no key in the message",
           "exit %d, %d readings, %r" % (rc, len(recs), err.strip()))
    if auth:
        rc, recs, err = decode(path, False, ["--key", key])
        report(rc == 1 and not recs and "AuthKey" in err, fx,
               "without the AuthKey the tag fails and the message names AuthKey",
               "exit %d, %d readings, %r" % (rc, len(recs), err.strip()))
    rc, recs, err = decode(path, False)
    report(rc == 1 and not recs, fx, "without a key: no value (not read as a plain telegram)",
           "exit %d, %d readings" % (rc, len(recs)))


def main():
    if not os.path.isdir(FIXDIR):
        print("SKIP: no DSMR fixtures at %s (set SM_SHARED)" % FIXDIR)
        return 77
    if not os.access(EXE, os.X_OK):
        print("SKIP: %s not built" % EXE)
        return 77
    fixtures = sorted(glob.glob(os.path.join(FIXDIR, "*.txt")))
    if not fixtures:
        print("SKIP: no *.txt in %s" % FIXDIR)
        return 77
    for path in fixtures:
        fx = os.path.basename(path)
        jpath = path[:-4] + ".expected.json"
        if not os.path.exists(jpath):
            note(fx, "no .expected.json")
            continue
        with open(jpath, encoding="utf-8") as f:
            exp = json.load(f, parse_float=Decimal)
        with open(path, "rb") as f:
            telegram = f.read().decode("latin-1")
        crc = exp.get("crc16") or {}

        rc, recs, err = decode(path, False)
        if crc.get("end_marker") is False:
            report(rc == 0 and recs, fx, "no '!' end line (DSMR 2.2 without CRC): decoded at the end of input",
                   "exit %d, %r" % (rc, err.strip()))
        elif crc.get("valid") is False:
            report(rc == 1 and not recs and "CRC" in err, fx,
                   "CRC %s (computed %s) rejected by default" % (crc.get("in_telegram"),
                                                                crc.get("computed")),
                   "exit %d, %d readings, %r" % (rc, len(recs), err.strip()))
            rc, recs, err = decode(path, True)
            report(rc == 0 and recs, fx, "accepted with --ignore-checksum",
                   "exit %d, %r" % (rc, err.strip()))
        else:
            report(rc == 0 and recs, fx, "decoded (CRC %s)" % (
                "valid" if crc.get("valid") else "absent"), "exit %d, %r" % (rc, err.strip()))
        idx = Index(recs)
        check_ndokter(fx, exp, idx)
        check_athombv(fx, exp, idx, telegram)
        check_values(fx, exp, idx)

    encrypted = sorted(glob.glob(os.path.join(FIXDIR, "*encrypted*.bin")))
    if encrypted and not has_key_flags():
        for path in encrypted:
            note(os.path.basename(path), "`smartmeter decode` has no --key/--auth-key flag yet")
    else:
        for path in encrypted:
            check_encrypted(path)

    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
