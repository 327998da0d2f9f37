"""End to end over a pseudo-terminal: `smartmeter simulate` is the meter,
`smartmeter read` the reader, as a user (or Telegraf's execd) runs them."""
import json
import os
import signal
import subprocess
import time

from smtest import (SMARTMETER, Proc, check, finish, simulator, tmpdir)

d = tmpdir("pty")
link = os.path.join(d, "p1")
sim = simulator(link, period="0.2")
try:
    # ---- JSON lines, every frame ----
    rd = Proc([SMARTMETER, "read", "-p", "dsmr", "-d", link, "--name", "p1"])
    names = lambda p: [json.loads(l)["name"] for l in p.out if l.startswith("{")]
    got = rd.wait_lines(lambda p: names(p).count("energy_import_t1") >= 2, 10)
    check(got, "read prints readings of at least two telegrams from the simulated meter")
    objs = [json.loads(l) for l in rd.out]
    check(all(set(o) in ({"time", "meter", "name", "obis", "unit", "value"},
                         {"time", "meter", "name", "obis", "unit", "text"}) for o in objs),
          "every stdout line is one flat JSON object with the SPEC keys")
    e = [o for o in objs if o["name"] == "energy_import_t1"]
    check(e and e[0]["obis"] == "1-0:1.8.1" and e[0]["unit"] == "Wh" and isinstance(e[0]["value"], (int, float)),
          "energy_import_t1 has OBIS 1-0:1.8.1, unit Wh and a number")
    now_ms = time.time() * 1000
    check(e and abs(e[-1]["time"] - now_ms) < 10000, "time is the meter's (restamped) time, close to now")
    v = [o for o in objs if o["name"] == "voltage_l1"]
    check(v and 200 < v[0]["value"] < 260 and v[0]["unit"] == "V", "voltage_l1 is plausible in V")
    t = [o for o in objs if o["name"] == "obis_0_0_96_1_1"]
    check(t and "text" in t[0] and "value" not in t[0], "the equipment id is a text reading")
    check(all(l.startswith(("I! ", "W! ", "E! ", "D! ")) for l in rd.err if l),
          "stderr lines carry Telegraf's level prefixes")
    for sig in (signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2):
        rd.p.send_signal(sig)
    n_before = len(rd.out)
    rd.wait_lines(lambda p: len(p.out) > n_before + 5, 5)
    check(rd.p.poll() is None, "SIGHUP, SIGUSR1 and SIGUSR2 do not kill read")
    code, took = rd.stop(signal.SIGTERM)
    check(code == 0 and took < 1.0, "SIGTERM stops read within a second (exit %s, %.3f s)" % (code, took))

    # ---- influx line protocol ----
    rd = Proc([SMARTMETER, "read", "-p", "dsmr", "-d", link, "--name", "p1", "--format", "influx"])
    rd.wait_lines(lambda p: any(",name=energy_import_t1," in l for l in p.out), 10)
    lines = [l for l in rd.out if ",name=energy_import_t1," in l]
    ok = False
    if lines:
        head, field, ts = lines[0].split(" ")
        ok = (head == "smartmeter,meter=p1,name=energy_import_t1,obis=1-0:1.8.1,unit=Wh"
              and field.startswith("value=") and len(ts) == 19 and ts.isdigit())
    check(ok, "influx line: measurement, tags, value field and a nanosecond timestamp")
    code, took = rd.stop(signal.SIGINT)
    check(code == 0 and took < 1.0, "SIGINT stops read within a second")

    # ---- --trigger stdin: one emission per newline, exit on EOF ----
    rd = Proc([SMARTMETER, "read", "-p", "dsmr", "-d", link, "--name", "p1", "--trigger", "stdin"],
              stdin=subprocess.PIPE)
    # wait until the reader has had time to receive frames: it prints nothing by itself
    rd.wait_lines(lambda p: False, 1.0)
    check(not rd.out, "with --trigger stdin nothing is printed before a newline")
    rd.p.stdin.write(b"\n")
    rd.p.stdin.flush()
    rd.wait_lines(lambda p: any('"energy_import_t1"' in l for l in p.out), 5)
    first = len([l for l in rd.out if '"energy_import_t1"' in l])
    check(first == 1, "one newline gives one emission of the latest values (%d)" % first)
    rd.p.stdin.write(b"\n")
    rd.p.stdin.flush()
    rd.wait_lines(lambda p: len([l for l in p.out if '"energy_import_t1"' in l]) >= 2, 5)
    check(len([l for l in rd.out if '"energy_import_t1"' in l]) == 2, "a second newline, a second emission")
    t0 = time.monotonic()
    rd.p.stdin.close()
    try:
        rd.p.wait(3)
    except subprocess.TimeoutExpired:
        pass
    took = time.monotonic() - t0
    check(rd.p.returncode == 0 and took < 1.0, "stdin EOF ends read within a second (%.3f s)" % took)
    rd.kill()
finally:
    code, _ = sim.stop()
check(code == 0, "the simulator stops cleanly on SIGTERM")
check(not os.path.lexists(link), "the simulator removes its link")

# ---- bad options are named as they were typed ----
for argv, want in ((["read", "--check=1", "-p", "dsmr", "-d", "/dev/null"], "read: option --check takes no value"),
                   (["decode", "--hex=1", "-p", "dsmr", "/dev/null"], "decode: option --hex takes no value"),
                   (["read", "--chek", "-p", "dsmr"], "read: unknown option --chek"),
                   (["read", "-k"], "read: unknown option -k"),
                   (["read", "--device"], "read: option --device needs a value")):
    r = subprocess.run([SMARTMETER] + argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=10)
    check(r.returncode == 2 and want in r.stderr, "%s: exit 2 and %r (%s: %s)" % (" ".join(argv), want, r.returncode,
                                                                                r.stderr.strip()[:120]))
finish()
