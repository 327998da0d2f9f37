#!/usr/bin/env python3
"""IEC 62056-21 fixture conformance: every $SM_SHARED/fixtures/iec62056-21/*.txt
through `smartmeter decode -p iec62056-21 --format json`, compared with what
the fixture's SOURCE asserts ("source_asserts") and with the builder's parse
in its .expected.json ("data_sets" / "telegrams").

The .txt files are transcripts as a host receives them: maybe an echoed
request, the identification line, maybe an echoed ACK, then the data block
with or without STX..ETX BCC.  `decode` frames every '/'..'!' message
whatever the Mode (decoding is offline; polling uses the sign-on session).

How the sources' ids map to ours:
  * smartmeter-obis prefixes reduced codes with a fallback medium ("6-0:9.20"
    for "9.20", "1-0:97.97" for "F.F"): we keep the code as sent;
  * vzlogger writes reduced codes as "255-255:C.D.E*255": we print "C.D.E";
  * "*07" billing suffixes print as "*7"; "*255" is the current value and
    prints without suffix.
Decisions the checks rely on (iec62056_21.h):
  * a value + timestamp "(02.468*kW)(1703100930)" is one reading of the
    value; an IEC time without zone is not the reading's time, so the
    reading carries the frame's time like the others;
  * "(a&b)" groups of numbers give one reading per part, the first under the
    code's name (so "9.4(088*C&082*C)" is 88 as smartmeter-obis says) and
    the others with "_v2", "_v3" appended;
  * empty values "()" give no reading (smartmeter-obis counts them as
    objects: its object_count is checked against every data set with a
    value having a reading and every empty one having none);
  * serial numbers, ids, firmware, status words, error registers (0.0.x,
    C.1.x, 96.1.x, 96.5.x, 0.2.x, 0.9.x, F.F) are text.

Fixtures whose BCC is wrong in their source (checks.bcc.valid == false) must
be rejected by default (exit 1, BCC named on stderr) and give the asserted
values with --ignore-checksum.

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
from decimal import Decimal

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.environ.get("top_srcdir") or os.path.normpath(os.path.join(HERE, "..", ".."))
BUILDDIR = os.environ.get("top_builddir") or SRCDIR
SHARED = os.environ.get("SM_SHARED") or os.path.join(SRCDIR, "..", "shared")
FIXDIR = os.path.join(SHARED, "fixtures", "iec62056-21")
EXE = os.path.join(BUILDDIR, "smartmeter")

# unit text (lower case) -> (base unit as our JSON prints it, factor)
UNITS = {
    "wh": ("Wh", 1), "kwh": ("Wh", 1000), "mwh": ("Wh", 1000000),
    "varh": ("varh", 1), "kvarh": ("varh", 1000),
    "w": ("W", 1), "kw": ("W", 1000), "mw": ("W", 1000000),
    "var": ("var", 1), "kvar": ("var", 1000),
    "v": ("V", 1), "a": ("A", 1), "hz": ("Hz", 1), "s": ("s", 1),
    "m3": ("m3", 1), "c": ("°C", 1), "*c": ("°C", 1),
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


def decode(path, ignore):
    cmd = [EXE, "decode", "-p", "iec62056-21", "--format", "json"]
    if ignore:
        cmd.append("--ignore-checksum")
    cmd.append(path)
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    recs = []
    for line in p.stdout.decode("utf-8", "replace").splitlines():
        if line.strip():
            recs.append(json.loads(line, parse_float=Decimal, parse_int=Decimal))
    return p.returncode, recs, p.stderr.decode("utf-8", "replace")


def norm(code):
    """A code as our output prints it: no "*255", no leading zeros in F."""
    if code.endswith("*255"):
        code = code[:-4]
    return re.sub(r"\*0*(\d+)$", lambda mm: "*" + mm.group(1), code)


ADDRESSES = set()  # the fixture's data set addresses, normalised


def our_obis(code):
    """The code our output prints for a code as a source names it: sources
    put a medium before reduced codes (smartmeter-obis "6-0:9.20", vzlogger
    "255-255:1.8.1*255"); smartmeter-obis calls F.F "97.97"."""
    c = norm(code)
    if c in ADDRESSES:
        return c
    m = re.match(r"^\d+-\d+:(.*)$", c)
    if m:
        rest = m.group(1)
        if rest == "97.97" and "F.F" in ADDRESSES:
            return "F.F"
        if rest in ADDRESSES:
            return rest
    return c


def unit_of(code):
    """The unit the fixture's data set of code carries (sources that assert
    a bare number mean the meter's unit)."""
    for s in EXPECTED.get("data_sets", []):
        if norm(s["address"]) == our_obis(code):
            return s["groups"][0].get("unit")
    return None


EXPECTED = {}


def max_readings():
    """SM_MAX_READINGS from src/reading.h (the capacity of a reading set)."""
    try:
        with open(os.path.join(SRCDIR, "src", "reading.h"), encoding="utf-8") as f:
            m = re.search(r"#define SM_MAX_READINGS (\d+)", f.read())
        return int(m.group(1)) if m else 160
    except OSError:
        return 160


MAX_READINGS = max_readings()


def base(value, unit):
    v = Decimal(str(value))
    if unit is None:
        return v, ""
    u, f = UNITS.get(unit.lower(), (unit, 1))
    return v * f, u


def same(a, b):
    return Decimal(a).normalize() == Decimal(b).normalize()


def find(recs, obis):
    return [r for r in recs if r.get("obis") == obis]


def check_value(fx, recs, code, value, unit, what, text=False):
    obis = our_obis(code)
    got = find(recs, obis)
    if not got:
        report(False, fx, what, "no reading with obis %s" % obis)
        return
    r = got[0]
    if text:
        ok = r.get("text") == value
        report(ok, fx, what, "got %r" % r)
        return
    if "value" not in r:
        report(False, fx, what, "got text %r" % r.get("text"))
        return
    v, u = base(value, unit)
    ok = same(r["value"], v) and (unit is None or r["unit"] == u)
    report(ok, fx, what, "got %s %s, expected %s %s" % (r["value"], r["unit"], v, u))


def check_asserts(fx, exp, recs):
    sa = exp.get("source_asserts")
    if isinstance(sa, dict):
        for a in sa.get("asserted", []):
            if "object_count" in a:
                check_object_count(fx, exp, recs, a["object_count"])
                continue
            code = a.get("id") or a.get("obis")
            if "values" in a:
                # value + timestamp groups: the value is the reading, the
                # zone-less IEC time is not the reading's time
                vals = a["values"]
                check_value(fx, recs, code, vals[0]["value"], vals[0].get("unit"),
                            "source asserts %s = %s" % (code, a["raw"]))
                got = find(recs, our_obis(code))
                if got:
                    others = {r["time"] for r in recs}
                    report(len(others) == 1 and got[0]["time"] in others, fx,
                           "%s: the timestamp group %s is no reading time (no zone)"
                           % (code, vals[1]["value"]))
                continue
            val = a.get("value")
            raw = a.get("raw", "")
            if isinstance(val, str):
                check_value(fx, recs, code, val, None,
                            "source asserts %s = %r (text)" % (code, val), text=True)
            else:
                unit = a.get("unit")
                if unit is None and raw and "*" in raw:
                    unit = raw.split("*", 1)[1].strip()
                if unit is None:
                    unit = unit_of(code)
                check_value(fx, recs, code, val if val is not None else raw.split("*")[0].strip(),
                            unit, "source asserts %s = %s%s" % (code, val if val is not None else raw,
                                                                " " + unit if unit else ""))
        if "read_count" in sa:
            n = sa["read_count"]
            report(len(recs) == n, fx, "source asserts %d readings" % n,
                   "got %d" % len(recs))
        if "documented_in_readme" in sa:
            check_data_sets(fx, exp, recs, "README listing (builder's parse)")
    elif isinstance(sa, str) and "telegrams" in exp:
        # several messages: their readings in order
        want = []
        for t in exp["telegrams"]:
            for code, v in t["values"].items():
                want.append((norm(code), v))
        got = [(r["obis"], r.get("value")) for r in recs]
        ok = len(got) == len(want) and all(
            g[0] == w[0] and g[1] is not None and same(g[1], Decimal(str(w[1])))
            for g, w in zip(got, want))
        report(ok, fx, "source asserts %d messages with %s" % (len(exp["telegrams"]), want),
               "got %s" % got)


def check_object_count(fx, exp, recs, count):
    sets = exp.get("data_sets", [])
    report(len(sets) == count, fx, "fixture lists the %d objects the source counts" % count,
           "%d data sets" % len(sets))
    have = {r["obis"] for r in recs}
    bad = []
    for s in sets:
        obis = our_obis(s["address"])
        raw = "".join(g["raw"] for g in s["groups"])
        empty = raw.replace("&", "").strip() == ""
        if empty == (obis in have):
            bad.append(obis)
    report(not bad, fx, "each of the %d objects: a reading when it has a value, none when "
           "empty" % count, "wrong: %s" % bad)


def check_data_sets(fx, exp, recs, what):
    """Every data set of the builder's parse with a number and a unit (the
    first value of '&' groups), and every text value."""
    n = 0
    bad = []
    beyond = 0
    pos = 0  # readings before this data set's (one per non-empty value)
    for s in exp.get("data_sets", []):
        g = s["groups"][0]
        obis = our_obis(s["address"])
        got = find(recs, obis)
        val = g.get("value")
        here = pos
        raw = g["raw"]
        if raw.strip() != "" or (raw != "" and "&" not in raw):
            pos += max(1, len([x for x in raw.split("&") if x.strip()])) if "&" in raw else 1
        if "&" in g["raw"] or val is None:
            continue
        n += 1
        if not got and len(recs) == MAX_READINGS and here >= MAX_READINGS:
            beyond += 1
            continue
        if not got:
            bad.append("%s missing" % obis)
            continue
        r = got[0]
        if isinstance(val, str):
            if r.get("text") != val.strip():
                bad.append("%s: %r" % (obis, r))
            continue
        unit = g.get("unit")
        if "value" in r:
            v, u = base(val, unit)
            if not same(r["value"], v) or (unit is not None and r["unit"] != u):
                bad.append("%s: %s %s, expected %s %s" % (obis, r["value"], r["unit"], v, u))
        elif r.get("text", "").lstrip("0") != str(val).lstrip("0"):
            # text objects (serials, ids): the digits as sent
            bad.append("%s: %r" % (obis, r))
    report(not bad, fx, "%s: %d values" % (what, n - beyond), "; ".join(bad[:5]))
    if beyond:
        print("NOTE %s: %d more values lie beyond the reading set's capacity "
              "(SM_MAX_READINGS %d): the readout is cut there" % (fx, beyond, MAX_READINGS))


def main():
    if not os.path.isdir(FIXDIR):
        print("SKIP fixtures_iec: no fixtures at %s" % FIXDIR)
        return 77
    if not os.access(EXE, os.X_OK):
        print("SKIP fixtures_iec: %s not built" % EXE)
        return 77
    files = sorted(glob.glob(os.path.join(FIXDIR, "*.txt")))
    if not files:
        print("SKIP fixtures_iec: no .txt fixtures")
        return 77
    for path in files:
        fx = os.path.basename(path)
        expf = path[:-4] + ".expected.json"
        if not os.path.exists(expf):
            report(False, fx, "has an .expected.json")
            continue
        with open(expf, encoding="utf-8") as f:
            exp = json.load(f)
        EXPECTED.clear()
        EXPECTED.update(exp)
        ADDRESSES.clear()
        ADDRESSES.update(norm(s["address"]) for s in exp.get("data_sets", []))
        bcc = (exp.get("checks") or {}).get("bcc")
        ignore = False
        if bcc and bcc.get("valid") is False:
            rc, recs, err = decode(path, False)
            report(rc == 1 and not recs and "BCC" in err, fx,
                   "BCC wrong in the source: rejected by default",
                   "exit %d, %d readings, stderr %r" % (rc, len(recs), err.strip()[:200]))
            ignore = True
        rc, recs, err = decode(path, ignore)
        report(rc == 0 and recs, fx, "decodes%s" % (" with --ignore-checksum" if ignore else ""),
               "exit %d, stderr %r" % (rc, err.strip()[:200]))
        if not recs:
            continue
        if bcc and bcc.get("valid") is True:
            report("wrong checksum" not in err and "BCC" not in err, fx,
                   "BCC %s verified" % bcc.get("in_stream"), err.strip()[:200])
        check_asserts(fx, exp, recs)
        if "data_sets" in exp and not (isinstance(exp.get("source_asserts"), dict) and
                                       "documented_in_readme" in exp["source_asserts"]):
            check_data_sets(fx, exp, recs, "builder's parse")
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
