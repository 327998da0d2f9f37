"""SML push meters end to end over pseudo-terminals: `smartmeter simulate
-p sml` is a German-style meter whose SML files our own encoder builds
(from a built-in meter, or from the readings of a captured file), and
`smartmeter read -p sml` reads them: names and units of SPEC section 6,
signed power (power_net negative while exporting), a fixture replayed,
and SIGTERM within a second.

Skipped (77) while this build has no Protocol "sml"."""
import json
import os
import signal
import subprocess

from smtest import (SMARTMETER, Proc, check, finish, skip, tmpdir, top_srcdir, wait_for)

if not os.path.exists(SMARTMETER):
    skip("the smartmeter program was not built")


def run(argv, timeout=20):
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


_, out, err = run([SMARTMETER, "--help"])
if "sml" not in out + err:
    skip("Protocol \"sml\" is not in this build yet")
_, out, err = run([SMARTMETER, "simulate", "--help"])
if "sml" not in out + err:
    skip("simulate -p sml is not in this build yet")

shared = os.environ.get("SM_SHARED") or os.path.join(top_srcdir, "..", "shared")
fixtures = os.path.join(shared, "fixtures", "sml")

d = tmpdir("sml")
procs = []


def sim(name, *args):
    """Start an SML simulator on a pty linked at d/name; wait for the link."""
    link = os.path.join(d, name)
    p = Proc([SMARTMETER, "simulate", "-p", "sml", "--link", link, "--period", "0.2"] + list(args))
    procs.append(p)
    if not wait_for(lambda: os.path.islink(link), 5.0):
        p.kill()
        p.pump(0)
        raise RuntimeError("simulator did not create %s: %s" % (link, p.err))
    return p, link


def reader(link):
    p = Proc([SMARTMETER, "read", "-p", "sml", "-d", link, "--name", "ehz"])
    procs.append(p)
    return p


def objs(p):
    return [json.loads(l) for l in p.out if l.startswith("{")]


def latest(p):
    return {o["name"]: o for o in objs(p)}


# name -> (obis, unit, low, high): what the built-in meter sends
WANT = {
    "energy_import": ("1-0:1.8.0", "Wh", 1e6, 1e10),
    "energy_export": ("1-0:2.8.0", "Wh", 1e5, 1e10),
    "power_net": ("1-0:16.7.0", "W", -5000, 10000),
    "power_net_l1": ("1-0:36.7.0", "W", -5000, 10000),
    "power_net_l2": ("1-0:56.7.0", "W", -5000, 10000),
    "power_net_l3": ("1-0:76.7.0", "W", -5000, 10000),
    "voltage_l1": ("1-0:32.7.0", "V", 200, 260),
    "voltage_l2": ("1-0:52.7.0", "V", 200, 260),
    "voltage_l3": ("1-0:72.7.0", "V", 200, 260),
}

try:
    # ---- the built-in meter ----
    s, link = sim("ehz")
    r = reader(link)
    ok = r.wait_lines(lambda p: all(n in latest(p) for n in WANT), 15)
    got = latest(r)
    check(ok, "read -p sml gives every reading of the built-in meter (%s)" % sorted(got)[:12])
    bad = [(n, got.get(n)) for n, (obis, unit, lo, hi) in WANT.items()
           if got.get(n) is None or got[n].get("obis") != obis or got[n].get("unit") != unit
           or not isinstance(got[n].get("value"), (int, float)) or not (lo <= got[n]["value"] <= hi)]
    check(not bad, "names, OBIS codes, units and plausible values %s" % bad[:3])
    texts = [o.get("text") for o in objs(r) if "text" in o]
    check(texts and all(isinstance(t, str) and t for t in texts), "the server id comes as a text reading %s" % texts[:2])
    # the built-in meter exports part of the time: power_net goes negative
    neg = r.wait_lines(lambda p: any(o["name"] == "power_net" and o["value"] < 0 for o in objs(p)), 15)
    check(neg, "power_net is signed: negative while the meter exports")
    imp = [o["value"] for o in objs(r) if o["name"] == "energy_import"]
    more = r.wait_lines(lambda p: max([o["value"] for o in objs(p) if o["name"] == "energy_import"] or [0])
                        > imp[0], 15) if imp else False
    check(more, "energy_import advances")
    errs = [l for l in r.err if l.startswith("E! ")]
    check(not errs, "no errors on the reader %s" % errs[:2])
    check(s.wait_lines(lambda q: any("the reader's line is at 9600 Bd" in l for l in q.err), 5),
          "the reader opened the line at 9600 Bd (the default of sml)")
    code, took = r.stop(signal.SIGTERM)
    check(code == 0 and took < 1.0, "SIGTERM stops read within a second (exit %s, %.3f s)" % (code, took))
    code, _ = s.stop(signal.SIGTERM)
    check(code == 0, "the simulator stops cleanly on SIGTERM")
    check(not os.path.lexists(link), "the simulator removes its link")

    # ---- a fixture: re-encoded, and verbatim ----
    fx = os.path.join(fixtures, "vzlogger_emh_basic_repaired.hex")
    if not os.path.exists(fx):
        print("note: %s is missing (SM_SHARED): the fixture replay is not checked" % fx, flush=True)
    else:
        for name, extra in (("fx", []), ("fx-verbatim", ["--verbatim"])):
            s, link = sim(name, "--fixture", fx, *extra)
            r = reader(link)
            ok = r.wait_lines(lambda p: all(n in latest(p) for n in
                                            ("energy_import_t1", "energy_import_t2", "power_import")), 15)
            got = latest(r)
            check(ok, "%s: the fixture's readings arrive (%s)" % (name, sorted(got)[:8]))
            vals = {n: got.get(n, {}).get("value") for n in ("energy_import_t1", "energy_import_t2", "power_import")}
            check(vals == {"energy_import_t1": 14796777.1, "energy_import_t2": 2012.4, "power_import": 11.2}
                  and got.get("energy_import_t1", {}).get("unit") == "Wh"
                  and got.get("power_import", {}).get("unit") == "W",
                  "%s: the values the fixture's source asserts %s" % (name, vals))
            errs = [l for l in r.err if l.startswith("E! ")]
            check(not errs, "%s: no errors on the reader %s" % (name, errs[:2]))
            code, took = r.stop(signal.SIGTERM)
            check(code == 0 and took < 1.0, "%s: SIGTERM stops read within a second (%.3f s)" % (name, took))
            s.stop(signal.SIGTERM)
    # ---- a Holley file with a KERMIT CRC: re-encoded with a KERMIT CRC ----
    fx = os.path.join(fixtures, "smllib_holley_issue8_kermit_crc.hex")
    if os.path.exists(fx):
        s, link = sim("kermit", "--fixture", fx)
        r = reader(link)
        want = {"energy_import": 10793898.7, "energy_export": 13609890.0, "power_net": 188, "frequency": 50}
        ok = r.wait_lines(lambda p: all(n in latest(p) for n in want), 15)
        got = latest(r)
        vals = {n: got.get(n, {}).get("value") for n in want}
        check(ok and vals == want, "kermit: the Holley file's readings arrive with their values %s" % vals)
        code, took = r.stop(signal.SIGTERM)
        check(code == 0 and took < 1.0, "kermit: SIGTERM stops read within a second (%.3f s)" % took)
        s.stop(signal.SIGTERM)
except RuntimeError as e:
    check(False, "simulated meter: %s" % e)
finally:
    for p in procs:
        p.kill()
finish()
