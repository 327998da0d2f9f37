#!/usr/bin/env python3
"""DLMS fixture conformance: every $SM_SHARED/fixtures/mbus-dlms/*.hex through
`smartmeter decode -p dlms --hex --format json` (--key K where the fixture's
.expected.json publishes one; --framing raw for the files that hold one plain
APDU instead of M-Bus frames), compared with

  * what the fixture's SOURCE asserts ("source_asserts"): amsreader's golden
    rows of expected_unencrypted.h (powers, voltages, currents, the import
    counter in kWh, the meter id when it names one), the meter serial the
    Polish capture decrypts to, the plaintext the Netz NOe and TINETZ
    documents publish (through the builder's decode of it);
  * the builder's decode of the plaintext ("decoded.objects"): every object
    with an OBIS code and its scaled value and unit, text objects, the meter
    number without OBIS (EVN flat list: reported as 0-0:96.1.0) and the
    notification's date-time with its deviation as the readings' time.

Negative fixtures:
  * at_sagemcom_t210d_gh867_encrypted_nokey: encrypted, no key published:
    rejected without a key, the reason naming the missing Key;
  * at_kaifa_ma309_gh247_reassembled_quirk: a 68 00 00 68 header (L = 0)
    over a firmware-reassembled body: no crash, no value, the reason reported.
And the frames of the keyed fixtures damaged: a wrong key ("check Key"), a
flipped bit on the wire (the M-Bus checksum catches it: without a GCM tag
the cipher cannot), the checksum byte itself, the last segment missing
(truncated), and the decrypted fixture's frames behind garbage and a bogus
68 01 01 68 header (still decoded).

The --key/--framing flags come from the configuration area; while `decode`
lacks them the keyed checks are skipped with a message.  Prints one line per
check and "N passed, M failed"; exit 0 when nothing failed, 1 otherwise, 77
(skipped) without fixtures or without the program.  Python 3 standard
library only.
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
FIXDIR = os.path.join(SHARED, "fixtures", "mbus-dlms")
EXE = os.path.join(BUILDDIR, "smartmeter")

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


def decode_hex(hextext, extra=()):
    """Run decode on hex text; (exit status, records, stderr)."""
    with tempfile.NamedTemporaryFile("w", suffix=".hex") as tmp:
        tmp.write(hextext)
        tmp.flush()
        cmd = [EXE, "decode", "-p", "dlms", "--hex", "--format", "json"] + list(extra) + [tmp.name]
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    recs = []
    for line in p.stdout.decode("utf-8", "replace").splitlines():
        if line.strip():
            recs.append(json.loads(line, parse_float=Decimal, parse_int=Decimal))
    return p.returncode, recs, p.stderr.decode("utf-8", "replace")


def flags():
    p = subprocess.run([EXE, "decode", "--help"], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=60)
    text = p.stdout.decode("utf-8", "replace")
    return "--key" in text, "--framing" in text


def our_obis(code):
    """"1-0:1.8.0.255" -> "1-0:1.8.0" (F 255 is the current value)."""
    m = re.match(r"^(\d+)-(\d+):(\d+)\.(\d+)\.(\d+)\.(\d+)$", code)
    if not m:
        return code
    a, b, c, d, e, f = m.groups()
    base = "%s-%s:%s.%s.%s" % (a, b, c, d, e)
    return base if f == "255" else "%s*%s" % (base, f)


def close(a, b):
    a, b = Decimal(a), Decimal(b)
    return abs(a - b) <= Decimal("1e-9") * max(Decimal(1), abs(b))


UNITS = {"Wh": "Wh", "W": "W", "V": "V", "A": "A", "varh": "varh", "var": "var",
         "VA": "VA", "VAh": "VAh", "Hz": "Hz", "(none/count)": ""}


def by_obis(recs):
    idx = {}
    for r in recs:
        idx.setdefault(r.get("obis"), []).append(r)
    return idx


def describe(rs):
    if not rs:
        return "no such reading"
    return "; ".join("%s=%s %s" % (r.get("obis"), r.get("value", r.get("text")), r.get("unit"))
                     for r in rs[:4])


def local_to_ms(dt):
    """A fixture date-time (local time + deviation) as unix ms."""
    t = datetime.strptime(dt["iso_local"], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)
    t += timedelta(minutes=dt["deviation_min"])  # DLMS: UTC = local + deviation
    return int(t.timestamp() * 1000) + dt.get("hundredths", 0) * 10


def check_objects(fx, exp, recs):
    """The builder's decode of the plaintext, object by object."""
    idx = by_obis(recs)
    dec = exp.get("decoded") or {}
    objs = dec.get("objects") or []
    report(len(objs) > 0, fx, "the fixture lists decoded objects")
    want_time = None
    if dec.get("notification_date_time"):
        want_time = local_to_ms(dec["notification_date_time"])
    for o in objs:
        code = o.get("obis")
        v = o.get("value")
        if code is None:
            if isinstance(v, dict):  # the date-time at the head of a flat list
                want_time = want_time or local_to_ms(v)
                continue
            ids = idx.get("0-0:96.1.0", [])
            report(any(r.get("text") == v for r in ids), fx,
                   "meter number without OBIS %r as 0-0:96.1.0" % v, describe(ids))
            continue
        ours = our_obis(code)
        rs = idx.get(ours, [])
        if isinstance(v, dict):  # 0-0:1.0.0 clock: the readings' time
            want_time = local_to_ms(v)
            continue
        if isinstance(v, str):
            report(any(r.get("text") == v for r in rs), fx, "%s = %r" % (ours, v), describe(rs))
            continue
        unit = UNITS.get(o.get("unit"), o.get("unit"))
        report(any("value" in r and close(r["value"], Decimal(str(v))) and r.get("unit") == unit
                   for r in rs), fx, "%s = %s %s" % (ours, v, unit), describe(rs))
    if want_time is not None and recs:
        report(all(int(r["time"]) == want_time for r in recs), fx,
               "readings carry the meter time %d" % want_time,
               "times %s" % sorted({int(r["time"]) for r in recs}))


def golden_row(fx, exp, recs):
    """amsreader's expected_unencrypted.h row: { path, listType, meterType,
    ?, importW, exportW, V1, V2, V3, A1, A2, A3, import kWh, "meterId" }."""
    sa = exp.get("source_asserts")
    if not isinstance(sa, dict) or "golden_row" not in sa:
        return False
    row = sa["golden_row"]
    m = re.match(r'^\{\s*"[^"]*",\s*(.*),\s*"([^"]*)"\s*\}$', row)
    if not m:
        report(False, fx, "golden row parses", row)
        return True
    nums = [Decimal(x.strip()) for x in m.group(1).split(",")]
    meter_id = m.group(2)
    # listType, meterType, 255, then the values
    vals = nums[3:]
    want = [("1-0:1.7.0", vals[0], "W"), ("1-0:2.7.0", vals[1], "W"),
            ("1-0:32.7.0", vals[2], "V"), ("1-0:52.7.0", vals[3], "V"), ("1-0:72.7.0", vals[4], "V"),
            ("1-0:31.7.0", vals[5], "A"), ("1-0:51.7.0", vals[6], "A"), ("1-0:71.7.0", vals[7], "A"),
            ("1-0:1.8.0", vals[8] * 1000, "Wh")]
    idx = by_obis(recs)
    for code, v, unit in want:
        rs = idx.get(code, [])
        report(any("value" in r and close(r["value"], v) and r.get("unit") == unit for r in rs), fx,
               "source golden row: %s = %s %s" % (code, v, unit), describe(rs))
    if meter_id:
        rs = idx.get("0-0:96.1.0", [])
        report(any(r.get("text") == meter_id for r in rs), fx,
               "source golden row: meter id %s" % meter_id, describe(rs))
    return True


def frames_of(text):
    return [line.strip() for line in text.splitlines() if line.strip()]


def t210d_overflow(hexlines):
    """The same APDU as Netz NOe's Sagemcom T210-D units frame it: 257 bytes
    of C..data under 68 01 01 68 (the length modulo 256), 8 in the next."""
    apdu = b"".join(bytes.fromhex(h)[9:-2] for h in hexlines)
    out = []
    for ci, part in ((0x00, apdu[:252]), (0x11, apdu[252:])):
        body = bytes([0x53, 0xFF, ci, 0x01, 0x67]) + part
        ln = len(body) % 256
        out.append(bytes([0x68, ln, ln, 0x68]) + body + bytes([sum(body) % 256, 0x16]))
    return "\n".join(b.hex() for b in out) + "\n"


def damage(fx, hexlines, keyargs):
    """The keyed fixture's frames damaged: each rejected with its reason."""
    whole = "\n".join(hexlines) + "\n"
    # wrong key
    key = keyargs[1]
    wrong = "%032X" % (int(key, 16) ^ (1 << 77))
    rc, recs, err = decode_hex(whole, ["--key", wrong])
    report(rc == 1 and not recs and "check Key" in err, fx, "a wrong key: 'check Key', no value",
           "exit %d, %d readings, %r" % (rc, len(recs), err.strip()))
    report(wrong not in err and key not in err and wrong.lower() not in err, fx,
           "no key digits in the messages", err.strip())
    # a flipped bit inside the first frame's ciphertext
    b = bytearray.fromhex(hexlines[0])
    b[100] ^= 0x10
    rc, recs, err = decode_hex(b.hex() + "\n" + "\n".join(hexlines[1:]), keyargs)
    report(rc == 1 and not recs and "checksum" in err, fx,
           "a flipped bit on the wire: M-Bus checksum, no value",
           "exit %d, %d readings, %r" % (rc, len(recs), err.strip()))
    # the checksum byte
    b = bytearray.fromhex(hexlines[-1])
    b[-2] ^= 0x01
    rc, recs, err = decode_hex("\n".join(hexlines[:-1]) + "\n" + b.hex(), keyargs)
    report(rc == 1 and not recs and "checksum" in err, fx, "a bad M-Bus checksum, no value",
           "exit %d, %d readings, %r" % (rc, len(recs), err.strip()))
    # the last segment missing
    rc, recs, err = decode_hex("\n".join(hexlines[:-1]), keyargs)
    report(rc == 1 and not recs and ("incomplete" in err or "truncated" in err), fx,
           "the last segment missing: truncated, no value",
           "exit %d, %d readings, %r" % (rc, len(recs), err.strip()))
    # the last segment cut
    rc, recs, err = decode_hex("\n".join(hexlines[:-1]) + "\n" + hexlines[-1][:-10], keyargs)
    report(rc == 1 and not recs and ("cut" in err or "truncated" in err), fx,
           "the last frame cut short: truncated, no value",
           "exit %d, %d readings, %r" % (rc, len(recs), err.strip()))
    # garbage, a bogus 68 01 01 68 header, the frames twice
    junk = "0068FA00E5" + "68010168" + "53FF000167"
    rc, recs, err = decode_hex(junk + whole + junk + whole, keyargs)
    n1 = len(decode_hex(whole, keyargs)[1])
    report(rc == 0 and len(recs) == 2 * n1, fx,
           "behind garbage and a bogus 68 01 01 68 header: both frames decoded",
           "exit %d, %d readings of %d, %r" % (rc, len(recs), 2 * n1, err.strip()))


def main():
    if not os.path.isdir(FIXDIR):
        print("SKIP: no fixtures at %s (set SM_SHARED)" % FIXDIR)
        return 77
    if not os.access(EXE, os.X_OK):
        print("SKIP: %s not built" % EXE)
        return 77
    has_key, has_framing = flags()
    files = sorted(glob.glob(os.path.join(FIXDIR, "*.hex")))
    if not files:
        print("SKIP: no .hex fixtures in %s" % FIXDIR)
        return 77
    for path in files:
        fx = os.path.basename(path)
        with open(path[:-4] + ".expected.json", encoding="utf-8") as f:
            exp = json.load(f)
        with open(path, encoding="ascii") as f:
            text = f.read()
        lines = frames_of(text)
        plain_apdu = not lines[0].upper().startswith("68")
        extra = []
        if plain_apdu:
            if not has_framing:
                note(fx, "decode has no --framing flag yet")
                continue
            extra += ["--framing", "raw"]
        key = ((exp.get("encryption") or {}).get("key"))
        if "nokey" in fx:
            rc, recs, err = decode_hex(text, extra)
            report(rc == 1 and not recs and "no Key is configured" in err, fx,
                   "encrypted, no key: rejected, the reason says so",
                   "exit %d, %d readings, %r" % (rc, len(recs), err.strip()))
            rc, recs, err = decode_hex(t210d_overflow(lines), extra)
            report(rc == 1 and not recs and "no Key is configured" in err and "68 01 01 68" not in err,
                   fx, "as a T210-D sends it (68 01 01 68 over 257 bytes, then 68 0D 0D 68): framed, "
                   "the APDU reaches the key check", "exit %d, %r" % (rc, err.strip()))
            continue
        if "quirk" in fx:
            rc, recs, err = decode_hex(text, extra)
            report(rc == 1 and not recs and "68 00 00 68" in err, fx,
                   "68 00 00 68 (L = 0) over a reassembled body: no value, the reason reported",
                   "exit %d, %d readings, %r" % (rc, len(recs), err.strip()))
            if has_key:  # a key changes nothing: nothing is framed
                rc, recs, err = decode_hex(text, ["--key", "00" * 16])
                report(rc == 1 and not recs, fx, "the same with a key: no value, no crash",
                       "exit %d, %r" % (rc, err.strip()))
            continue
        if key:
            if not has_key:
                note(fx, "decode has no --key flag yet")
                continue
            extra += ["--key", key]
        rc, recs, err = decode_hex(text, extra)
        report(rc == 0 and len(recs) > 0, fx, "decodes%s" % (" with the published key" if key else ""),
               "exit %d, %r" % (rc, err.strip()))
        report(err.strip() == "", fx, "no warnings", err.strip())
        if not golden_row(fx, exp, recs):
            print("NOTE %s: the source asserts the plaintext (or one value); its objects are "
                  "checked through the builder's decode of it" % fx)
        if "1KFM0200169986" in json.dumps(exp.get("source_asserts")):
            rs = by_obis(recs).get("0-0:96.1.0", [])
            report(any(r.get("text") == "1KFM0200169986" for r in rs), fx,
                   "source: decrypts to meter serial 1KFM0200169986", describe(rs))
        check_objects(fx, exp, recs)
        if key and not plain_apdu and len(lines) > 1:
            damage(fx, lines, extra)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
