"""The example configurations in contrib/ and the man pages against the
program: the examples must be accepted as they are (and with their
commented variants switched on), Telegraf's parser settings must fit what
`smartmeter` prints, and the man pages must name every command, flag and
option the program has."""
import json
import math
import os
import re
import shutil
import signal
import subprocess
try:
    import tomllib
except ImportError:  # Python < 3.11
    try:
        import tomli as tomllib
    except ImportError:
        tomllib = None

from smtest import (SMARTMETER, Proc, check, finish, simulator, skip, tmpdir, top_srcdir, wait_for)

if not os.path.exists(SMARTMETER):
    skip("the smartmeter program was not built")

contrib = os.path.join(top_srcdir, "contrib")
mandir = os.path.join(top_srcdir, "man")
shared = os.environ.get("SM_SHARED") or os.path.join(top_srcdir, "..", "shared")
d = tmpdir("contrib")


def run(argv, stdin=None, timeout=20):
    p = subprocess.run(argv, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def read_text(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


# ---- what the program says it has ----
def help_of(cmd):
    code, out, _ = run([SMARTMETER, cmd, "--help"])
    return out if code == 0 else ""


read_help = help_of("read")
meter_part = read_help.split("Meter options", 1)[1] if "Meter options" in read_help else ""
meter_flags = re.findall(r"^\s+--([a-z][a-z0-9-]*)", meter_part, re.M)
check(len(meter_flags) >= 8, "read --help lists the meter options (%d: %s)" % (len(meter_flags), meter_flags))
# Config names: the flag without dashes, each part capitalised (matched
# case-insensitively, as collectd and smartmeter do).
option_names = ["".join(w.capitalize() for w in f.split("-")) for f in meter_flags]
cmd_flags = {}
for cmd in ("read", "decode", "simulate", "probe"):
    h = help_of(cmd)
    check(h != "", "smartmeter %s --help exits 0 and prints help" % cmd)
    cmd_flags[cmd] = sorted(set(re.findall(r"(?<![\w-])--([a-z][a-z0-9-]*)", h)) - set(meter_flags))


# ---- the collectd and smartmeter configurations ----
def check_config(path, what):
    code, out, err = run([SMARTMETER, "read", "--check", "-c", path])
    check(code == 0, "read --check -c %s exits 0 (%s) %s" % (what, code, err.strip()[:300]))
    return out


option_re = re.compile(r'^(\s*)#\s*(<Meter\s+".*|</Meter>|(?:%s)\s+(?:"|[0-9]|true\b|false\b).*)$'
                       % "|".join(option_names), re.I)


def uncomment_meters(text):
    """Switch on the commented <Meter> blocks and meter options."""
    return "\n".join(option_re.sub(r"\1\2", l) for l in text.split("\n"))


for name in ("collectd.conf", "smartmeter.conf"):
    path = os.path.join(contrib, name)
    out = check_config(path, "contrib/" + name)
    check('meter "home": protocol dsmr on /dev/ttyUSB0 (115200 8N1)' in out,
          "contrib/%s: meter home reads DSMR on /dev/ttyUSB0 at 115200 8N1" % name)
    text = read_text(path)
    full = uncomment_meters(text)
    n_meters = len(re.findall(r"^\s*<Meter\s", full, re.M))
    check(n_meters > len(re.findall(r"^\s*<Meter\s", text, re.M)),
          "contrib/%s has commented meter examples (%d meters when switched on)" % (name, n_meters))
    alt = os.path.join(d, "all-" + name)
    with open(alt, "w", encoding="utf-8") as f:
        f.write(full)
    out = check_config(alt, "contrib/%s with every commented meter and option switched on" % name)
    check(("configuration OK: %d meter(s)" % n_meters) in out, "... and all %d meters are valid" % n_meters)
    if name == "smartmeter.conf":
        check(re.search(r'meter "garage": protocol dsmr on \S+ \(9600 7E1\)', out) is not None,
              "the DSMR 2.2/3 example reads at 9600 7E1")

# ---- the IEC 62056-21 examples: checked, then run against the simulator ----
h = subprocess.run([SMARTMETER, "--help"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
have_iec = b"iec62056-21" in h.stdout
IEC_EXAMPLES = (
    ("iec-optical-head.conf", [r'meter "optical": protocol iec62056-21 on \S+ \(300 7E1\)'], 1),
    ("iec-ebz-dd3.conf", [r'meter "dd3": protocol iec62056-21 on \S+ \(9600 7E1\)'], 1),
    ("iec-rs485-bus.conf", [r'meter "(flat1|flat2|heatpump)": protocol iec62056-21 on (\S+) \(300 7E1\)'
                            r'(\n|.)*configuration OK: 3 meter\(s\) on 1 port\(s\)'], 3),
)
if not have_iec:
    print("note: IEC 62056-21 is not in this build: its examples are not checked", flush=True)
for name, pats, n in IEC_EXAMPLES if have_iec else ():
    path = os.path.join(contrib, name)
    out = check_config(path, "contrib/" + name)
    check(all(re.search(p, out) for p in pats) and ("configuration OK: %d meter(s)" % n) in out,
          "contrib/%s: %d meter(s) with the expected line settings" % (name, n))
    text = read_text(path)
    full = uncomment_meters(text)
    alt = os.path.join(d, "all-" + name)
    with open(alt, "w", encoding="utf-8") as f:
        f.write(full)
    check_config(alt, "contrib/%s with every commented meter and option switched on" % name)


col = read_text(os.path.join(contrib, "collectd.conf"))
check(re.search(r"^Hostname\s+\"", col, re.M) and re.search(r"^FQDNLookup\s+false", col, re.M),
      "collectd.conf sets Hostname and FQDNLookup false")
load = re.search(r"^LoadPlugin\s+smartmeter\s*$", col, re.M)
block = re.search(r"^<Plugin\s+smartmeter>", col, re.M)
check(load and block and load.start() < block.start(),
      "collectd.conf loads the plugin before its <Plugin smartmeter> block")
for plugin in ("network", "write_graphite"):
    m = re.search(r"^#<LoadPlugin %s>\s*\n#\s*FlushInterval\s+\d+\s*\n#</LoadPlugin>" % plugin, col, re.M)
    check(m is not None, "collectd.conf has a commented %s section with FlushInterval" % plugin)
# collectd 5.12's -t does not read the configuration, and -T would need the
# plugin installed: the daemon's own check is left to tests/e2e/test_collectd.py.

# ---- telegraf.conf ----
def mini_toml(text):
    """key = "string" | ["string", ...] lines of the first table in text
    (only for Pythons without a TOML parser)."""
    text = text.split("[[inputs.execd]]")[1] if "[[inputs.execd]]" in text else text
    text = text.split("[[")[0]
    out = {}
    for m in re.finditer(r'^\s*(\w+)\s*=\s*(\[.*\]|".*")\s*$', text, re.M):
        out[m.group(1)] = json.loads(m.group(2))
    return out


tpath = os.path.join(contrib, "telegraf.conf")
ttext = read_text(tpath)
if tomllib is None:
    print("note: no TOML parser (Python < 3.11 without tomli): telegraf.conf read with a regex", flush=True)
    tconf = {"inputs": {"execd": [mini_toml(ttext)]}}
else:
    try:
        tconf = tomllib.loads(ttext)
    except tomllib.TOMLDecodeError as e:
        tconf = {}
        check(False, "contrib/telegraf.conf is TOML: %s" % e)
execd = tconf.get("inputs", {}).get("execd", [])
check(len(execd) == 1, "telegraf.conf has one active [[inputs.execd]] (%d)" % len(execd))
ex = execd[0] if execd else {}
TAGS = ["meter", "name", "obis", "unit"]
check(ex.get("data_format") == "json", "data_format = json")
check(ex.get("name_override") == "smartmeter", "name_override = smartmeter")
check(ex.get("tag_keys") == TAGS, "tag_keys = %s" % TAGS)
check(ex.get("json_string_fields") == ["text"], "json_string_fields = [text]")
check(ex.get("json_time_key") == "time" and ex.get("json_time_format") == "unix_ms",
      "json_time_key = time, json_time_format = unix_ms")
check(ex.get("signal") == "none", "signal = none")
command = ex.get("command", [])
check(command[:2] == ["smartmeter", "read"], "command starts with smartmeter read: %s" % command)

# The commented variants, switched on.
variants_text = re.sub(r"^#(\[\[|\s+\w+\s*=)", r"\1", ttext, flags=re.M)
if tomllib is None:
    variants = [mini_toml(t) for t in variants_text.split("[[inputs.execd]]")[1:]]
else:
    try:
        variants = tomllib.loads(variants_text).get("inputs", {}).get("execd", [])
    except tomllib.TOMLDecodeError as e:
        variants = []
        check(False, "telegraf.conf's commented variants are TOML: %s" % e)
stdin_v = [v for v in variants if v.get("signal") == "STDIN"]
influx_v = [v for v in variants if v.get("data_format") == "influx"]
check(len(variants) == 4 and stdin_v and influx_v,
      "telegraf.conf has commented STDIN and influx variants (%d execd blocks)" % len(variants))
both = [v for v in influx_v if v.get("signal") == "STDIN"]
check(len(both) == 1 and "--trigger" in both[0].get("command", []) and
      both[0]["command"][both[0]["command"].index("--trigger") + 1:][:1] == ["stdin"],
      "telegraf.conf has an influx variant with signal = STDIN and --trigger stdin")
influx_v = [v for v in influx_v if v.get("signal") == "none"] or influx_v
if stdin_v:
    c = stdin_v[0].get("command", [])
    check("--trigger" in c and c[c.index("--trigger") + 1:][:1] == ["stdin"]
          and stdin_v[0].get("tag_keys") == TAGS and stdin_v[0].get("json_time_format") == "unix_ms",
          "the STDIN variant runs read --trigger stdin with the same JSON settings")
if influx_v:
    c = influx_v[0].get("command", [])
    check("--format" in c and c[c.index("--format") + 1:][:1] == ["influx"],
          "the influx variant runs read --format influx")

# Every command line of the file is one smartmeter accepts.
sm_conf = os.path.join(contrib, "smartmeter.conf")
for v in variants:
    c = list(v.get("command", []))
    if c[:2] != ["smartmeter", "read"] or "-c" not in c:
        check(False, "command %s runs smartmeter read -c FILE" % c)
        continue
    c[c.index("-c") + 1] = sm_conf
    code, out, err = run([SMARTMETER] + c[1:] + ["--check"])
    check(code == 0, "smartmeter accepts %s (exit %s) %s" % (" ".join(v["command"][1:]), code, err.strip()[:200]))


# ---- what smartmeter prints fits those settings ----
def check_json_lines(lines, what):
    bad = []
    objs = []
    for l in lines:
        try:
            o = json.loads(l, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))
        except ValueError as e:
            bad.append("%s: %s" % (e, l[:80]))
            continue
        objs.append(o)
        keys = set(o)
        if keys not in (set(TAGS) | {"time", "value"}, set(TAGS) | {"time", "text"}):
            bad.append("keys %s" % sorted(keys))
            continue
        if not all(isinstance(o[k], str) for k in TAGS):
            bad.append("a tag is not a string: %s" % l[:80])
        t = o["time"]
        if not (isinstance(t, int) and 1e12 < t < 1e14):
            bad.append("time is not unix ms: %r" % t)
        if "value" in o and not (isinstance(o["value"], (int, float)) and not isinstance(o["value"], bool)
                                 and math.isfinite(o["value"])):
            bad.append("value not a finite number: %r" % o["value"])
        if "text" in o and not isinstance(o["text"], str):
            bad.append("text not a string: %r" % o["text"])
    check(objs and not bad, "%s: %d lines, each the tag keys + time + value or text, time in ms, "
          "values finite %s" % (what, len(objs), bad[:3]))
    check(all(("text" in o) <= ("text" in ex.get("json_string_fields", [])) for o in objs),
          "%s: strings appear only in tag_keys or json_string_fields" % what)
    return objs


fixture = os.path.join(shared, "fixtures", "dsmr", "dsmr50_iskra.txt")
if os.path.exists(fixture):
    code, out, err = run([SMARTMETER, "decode", "-p", "dsmr", "--name", "home", fixture])
    check(code == 0, "decode -p dsmr dsmr50_iskra.txt exits 0 (%s) %s" % (code, err.strip()[:200]))
    objs = check_json_lines([l for l in out.split("\n") if l], "decode of dsmr50_iskra.txt")
    check(any(o["name"] == "energy_import_t1" and o["unit"] == "Wh" for o in objs),
          "the fixture gives energy_import_t1 in Wh")
    code, out, err = run([SMARTMETER, "decode", "-p", "dsmr", "--name", "home", "--format", "influx", fixture])
    lines = [l for l in out.split("\n") if l]
    pat = re.compile(r'^smartmeter,meter=home,name=[a-z0-9_]+,obis=[0-9A-Z:.*-]+(,unit=[^ ,]+)? '
                     r'(value=-?[0-9.]+|text="(?:[^"\\]|\\.)*") [0-9]{19}$')
    check(code == 0 and lines and all(pat.match(l) for l in lines),
          "decode --format influx prints what [[inputs.execd]] data_format = influx reads %s"
          % [l for l in lines if not pat.match(l)][:2])
else:
    print("note: %s not found: fixture decode not checked" % fixture, flush=True)

# The same through a live read, as Telegraf runs it.
link = os.path.join(d, "p1")
sim = None
try:
    sim = simulator(link, period="0.1")
    rd = Proc([SMARTMETER, "read", "-p", "dsmr", "-d", link, "--name", "home"])
    rd.wait_lines(lambda p: sum('"energy_import_t1"' in l for l in p.out) >= 2, 10)
    code, _ = rd.stop(signal.SIGTERM)
    check_json_lines([l for l in rd.out if l], "read from a simulated meter")
    check(code == 0, "read stops with 0 on SIGTERM")
    # Telegraf's execd logs stderr lines by their prefix (E! error, W! warn,
    # I! info, D! debug); a line without one would be logged as an error.
    odd = [l for l in rd.err if l and not re.match(r"^[EWID]! ", l)]
    check(rd.err and not odd, "every stderr line starts with E! W! I! or D! (%d lines) %s" % (len(rd.err), odd[:2]))
except RuntimeError as e:
    check(False, "simulated meter: %s" % e)
finally:
    if sim is not None:
        sim.stop()



def iec_example_on(name, link, interval):
    """An IEC example with its Device pointed at a simulator's pty and a short Interval."""
    text = read_text(os.path.join(contrib, name))
    text = re.sub(r'^(\s*Device\s+)"[^"]*"', lambda m: '%s"%s"' % (m.group(1), link), text, flags=re.M)
    text = re.sub(r"^(\s*Interval\s+)[0-9.]+", r"\g<1>" + interval, text, flags=re.M)
    path = os.path.join(d, "run-" + name)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path


def iec_sim(link, *args):
    p = Proc([SMARTMETER, "simulate", "-p", "iec62056-21", "--link", link] + list(args))
    if not wait_for(lambda: os.path.islink(link), 5.0):
        p.kill()
        raise RuntimeError("simulator did not create %s" % link)
    return p


def iec_names(p, meter):
    return [json.loads(l)["name"] for l in p.out if l.startswith("{") and json.loads(l)["meter"] == meter]


if have_iec:
    for name, simargs, meters, want in (
            ("iec-optical-head.conf", ["--mode", "C"], ["optical"], "energy_import"),
            ("iec-ebz-dd3.conf", ["--mode", "D", "--period", "0.2"], ["dd3"], "energy_import"),
            ("iec-rs485-bus.conf", ["--meter", "21004711", "--meter", "21004712", "--meter", "21004713"],
             ["flat1", "flat2", "heatpump"], "energy_import")):
        link = os.path.join(d, "iec-" + name)
        sim = None
        try:
            sim = iec_sim(link, *simargs)
            path = iec_example_on(name, link, "0.5")
            rd = Proc([SMARTMETER, "read", "-c", path])
            ok = rd.wait_lines(lambda p: all(want in iec_names(p, m) for m in meters), 15)
            code, _ = rd.stop(signal.SIGTERM)
            check(ok and code == 0, "contrib/%s read from a simulated meter: %s of %s" % (name, want, meters))
            check_json_lines([l for l in rd.out if l], "read of contrib/%s" % name)
        except RuntimeError as e:
            check(False, "simulated meter for %s: %s" % (name, e))
        finally:
            if sim is not None:
                sim.stop()


# ---- the encrypted and DLMS examples: checked, then run against the simulator ----
have_key = "key" in meter_flags
have_dlms = run([SMARTMETER, "read", "--check", "-p", "dlms", "-d", "/dev/null"])[0] == 0
KEY_EXAMPLES = (
    # (file, meter, pattern of --check, needs dlms, simulator arguments, a reading to wait for)
    ("dlms-austria-mbus.conf", "evn", r'meter "evn": protocol dlms on \S+ \(2400 8E1\)', True,
     ["-p", "dlms", "--key-file", "KEYFILE"], "energy_import"),
    ("dlms-nordic-hdlc.conf", "han", r'meter "han": protocol dlms on \S+ \(2400 8N1\)', True,
     ["-p", "dlms", "--framing", "hdlc"], "energy_import"),
    ("dsmr-smarty.conf", "smarty", r'meter "smarty": protocol dsmr on \S+ \(115200 8N1\)', False,
     ["-p", "dsmr", "--key", "KEY", "--auth-key", "AUTHKEY"], "energy_import_t1"),
)
if not have_key:
    print("note: --key is not in this build: the encrypted examples are not checked", flush=True)
elif not have_dlms:
    print("note: Protocol \"dlms\" is not in this build: its examples are not checked", flush=True)
example_key = os.path.join(d, "example.key")
with open(example_key, "w", encoding="utf-8") as f:
    f.write("0F1E2D3C4B5A69788796A5B4C3D2E1F0\n")
os.chmod(example_key, 0o600)


def key_example(name, link=None, interval=None):
    """An example with its KeyFile pointed at a private key file (and its
    Device at link, its Interval set, when given)."""
    text = read_text(os.path.join(contrib, name))
    text = re.sub(r'^(\s*KeyFile\s+)"[^"]*"', lambda m: '%s"%s"' % (m.group(1), example_key), text, flags=re.M)
    if link is not None:
        text = re.sub(r'^(\s*Device\s+)"[^"]*"', lambda m: '%s"%s"' % (m.group(1), link), text, flags=re.M)
    if interval is not None:
        text = re.sub(r"^(\s*Interval\s+)[0-9.]+", r"\g<1>" + interval, text, flags=re.M)
    return text


for name, meter, pat, dlms, simargs, want in KEY_EXAMPLES if have_key else ():
    if dlms and not have_dlms:
        continue
    text = key_example(name)
    path = os.path.join(d, "chk-" + name)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    code, out, err = run([SMARTMETER, "read", "--check", "-c", path])
    check(code == 0 and re.search(pat, out) and "configuration OK: 1 meter(s)" in out and "W! " not in err,
          "contrib/%s: --check: %s, no warning (%s) %s" % (name, pat, code, err.strip()[:200]))
    alt = os.path.join(d, "all-" + name)
    with open(alt, "w", encoding="utf-8") as f:
        f.write(uncomment_meters(text))
    check_config(alt, "contrib/%s with every commented meter and option switched on" % name)
    # the same meter, simulated: the simulator gets the example's keys
    keys = dict(re.findall(r'^\s*(Key|AuthKey)\s+"([0-9A-Fa-f]{32})"', read_text(os.path.join(contrib, name)), re.M))
    args = [{"KEYFILE": example_key, "KEY": keys.get("Key"), "AUTHKEY": keys.get("AuthKey")}.get(a, a)
            for a in simargs]
    if None in args:
        check(False, "contrib/%s has the Key and AuthKey its simulator needs" % name)
        continue
    link = os.path.join(d, "key-" + name)
    sim = None
    try:
        sim = Proc([SMARTMETER, "simulate", "--link", link, "--period", "0.2"] + args)
        if not wait_for(lambda: os.path.islink(link), 5.0):
            raise RuntimeError("simulator did not create %s" % link)
        path = os.path.join(d, "run-" + name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(key_example(name, link, "0"))
        rd = Proc([SMARTMETER, "read", "-c", path])
        ok = rd.wait_lines(lambda p: want in iec_names(p, meter), 15)
        code, _ = rd.stop(signal.SIGTERM)
        check(ok and code == 0, "contrib/%s read from a simulated meter: %s of %s %s"
              % (name, want, meter, [l for l in rd.err if l.startswith("E! ")][:2]))
        check_json_lines([l for l in rd.out if l], "read of contrib/%s" % name)
        secrets = [k.lower() for k in keys.values()] + ["0f1e2d3c4b5a69788796a5b4c3d2e1f0"]
        check(not [l for l in rd.err + sim.err if any(k in l.lower() for k in secrets)],
              "contrib/%s: no key on stderr" % name)
    except RuntimeError as e:
        check(False, "simulated meter for %s: %s" % (name, e))
    finally:
        if sim is not None:
            sim.stop()


# ---- the SML example: checked, then run against the simulator ----
have_sml = run([SMARTMETER, "read", "--check", "-p", "sml", "-d", "/dev/null"])[0] == 0
sim_sml = have_sml and "sml" in run([SMARTMETER, "simulate", "--help"])[1]
if not have_sml:
    print("note: Protocol \"sml\" is not in this build: contrib/sml-ehz.conf is not checked", flush=True)
else:
    name = "sml-ehz.conf"
    path = os.path.join(contrib, name)
    code, out, err = run([SMARTMETER, "read", "--check", "-c", path])
    check(code == 0 and re.search(r'meter "ehz": protocol sml on \S+ \(9600 8N1\)', out)
          and "configuration OK: 1 meter(s)" in out and "W! " not in err,
          "contrib/%s: --check: meter ehz reads SML at 9600 8N1, no warning (%s) %s"
          % (name, code, err.strip()[:200]))
    alt = os.path.join(d, "all-" + name)
    with open(alt, "w", encoding="utf-8") as f:
        f.write(uncomment_meters(read_text(path)))
    out = check_config(alt, "contrib/%s with every commented meter and option switched on" % name)
    check("configuration OK: 2 meter(s)" in out and re.search(r'meter "old-ehz": protocol sml on \S+ \(2400 8N1\)', out),
          "contrib/%s: the commented older eHZ reads at 2400 8N1" % name)
    if sim_sml:
        link = os.path.join(d, "sml-" + name)
        sim = None
        try:
            sim = Proc([SMARTMETER, "simulate", "-p", "sml", "--link", link, "--period", "0.2"])
            if not wait_for(lambda: os.path.islink(link), 5.0):
                raise RuntimeError("simulator did not create %s" % link)
            rd = Proc([SMARTMETER, "read", "-c", iec_example_on(name, link, "0")])
            ok = rd.wait_lines(lambda p: all(n in iec_names(p, "ehz") for n in ("energy_import", "power_net")), 15)
            code, _ = rd.stop(signal.SIGTERM)
            check(ok and code == 0, "contrib/%s read from a simulated meter: energy_import and power_net %s"
                  % (name, [l for l in rd.err if l.startswith("E! ")][:2]))
            check_json_lines([l for l in rd.out if l], "read of contrib/%s" % name)
        except RuntimeError as e:
            check(False, "simulated meter for %s: %s" % (name, e))
        finally:
            if sim is not None:
                sim.stop()


# ---- the man pages ----
def man_text(name):
    """A man page's source with font escapes removed and \\- turned into -."""
    t = read_text(os.path.join(mandir, name))
    t = re.sub(r"\\f(\[[A-Z]*\]|[BIRP])", "", t)
    t = t.replace("\\-", "-").replace("\\&", "")
    return t


man1 = man_text("smartmeter.1")
man5 = man_text("collectd-smartmeter.5")
for cmd in ("read", "decode", "simulate", "probe"):
    check(re.search(r"^\.SS\s+\"?%s\b" % cmd, man1, re.M) is not None,
          "smartmeter(1) has a section for the %s command" % cmd)
missing = ["--" + f for f in meter_flags if not re.search(r"(?<![\w-])--%s\b" % re.escape(f), man1)]
check(meter_flags and not missing, "smartmeter(1) documents every meter flag %s" % missing)
for cmd, flags in cmd_flags.items():
    missing = ["--" + f for f in flags if not re.search(r"(?<![\w-])--%s\b" % re.escape(f), man1)]
    check(not missing, "smartmeter(1) documents every flag of %s %s" % (cmd, missing))
missing = [n for n in option_names if not re.search(r"^\.TP\s*\n\.(?:B|BI|BR)\s+\"?%s\b" % n, man5, re.M | re.I)]
check(option_names and not missing, "collectd-smartmeter(5) has an entry for every option %s" % missing)
missing = [n for n in option_names if not re.search(r"\b%s\b" % n, man1, re.I)]
check(not missing, "smartmeter(1) names every config option %s" % missing)

man = shutil.which("man")
if man:
    for page in ("smartmeter.1", "collectd-smartmeter.5"):
        p = subprocess.run([man, "--warnings", "-l", os.path.join(mandir, page)], stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, env=dict(os.environ, MANWIDTH="80", MAN_KEEP_FORMATTING="0"),
                           timeout=30)
        err = p.stderr.decode("utf-8", "replace").strip()
        check(p.returncode == 0 and not err, "%s renders without warnings %s" % (page, err[:300]))
else:
    print("note: man is not installed: rendering not checked", flush=True)

# ---- the Modbus examples: checked, planned, and the bus read from a simulated one ----
if "modbus" in help_of("simulate"):
    out = check_config(os.path.join(contrib, "modbus-bus.conf"), "contrib/modbus-bus.conf")
    check(re.search(r'meter "flat1": protocol modbus on \S+ \(9600 8N1\)', out) and
          "configuration OK: 3 meter(s) on 1 port(s)" in out,
          "contrib/modbus-bus.conf: 3 meters on one bus at 9600 8N1")
    alt = os.path.join(d, "all-modbus-bus.conf")
    with open(alt, "w", encoding="utf-8") as f:
        f.write(uncomment_meters(read_text(os.path.join(contrib, "modbus-bus.conf"))))
    out = check_config(alt, "contrib/modbus-bus.conf with every commented meter and option switched on")
    check("configuration OK: 5 meter(s) on 3 port(s)" in out, "... 5 meters (tcp:// and rtu+tcp:// too)")
    code, out, err = run([SMARTMETER, "read", "--plan", "-c", os.path.join(contrib, "modbus-bus.conf")])
    check(code == 0 and re.search(r'meter "flat1": .*34 values in 2 requests', out),
          "contrib/modbus-bus.conf --plan: the SDM630 in 2 requests")
    out = check_config(os.path.join(contrib, "modbus-user-map.conf"), "contrib/modbus-user-map.conf")
    check(re.search(r'meter "heating": protocol modbus on /dev/ttyUSB1 \(19200 8E1\)', out),
          "contrib/modbus-user-map.conf: the controller at 19200 8E1")
    code, out, err = run([SMARTMETER, "read", "--plan", "-c", os.path.join(contrib, "modbus-user-map.conf")])
    check(code == 0 and "4 values in 1 request" in out,
          "contrib/modbus-user-map.conf --plan: 4 values in one request (%s)" % out.strip()[:200])

    link = os.path.join(d, "modbus-bus")
    values = os.path.join(d, "modbus-bus.values")
    sim = Proc([SMARTMETER, "simulate", "-p", "modbus", "--link", link, "--values", values,
                "--meter", "1=sdm630", "--meter", "2=sdm120", "--meter", "3=em340"])
    try:
        if wait_for(lambda: os.path.islink(link) and os.path.exists(values), 5.0):
            text = re.sub(r'^(\s*Device\s+)"/dev/[^"]*"', lambda m: '%s"%s"' % (m.group(1), link),
                          read_text(os.path.join(contrib, "modbus-bus.conf")), flags=re.M)
            path = os.path.join(d, "run-modbus-bus.conf")
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
            rd = Proc([SMARTMETER, "read", "-c", path])

            def meters_seen(p):
                return {json.loads(l)["meter"] for l in p.out if l.startswith("{")}
            ok = rd.wait_lines(lambda p: meters_seen(p) >= {"flat1", "flat2", "heatpump"}, 10)
            code, _ = rd.stop()
            check(ok and code == 0, "contrib/modbus-bus.conf read from a simulated bus: %s" % sorted(meters_seen(rd)))
            check_json_lines([l for l in rd.out if l], "read of contrib/modbus-bus.conf")
        else:
            check(False, "the Modbus simulator starts")
    finally:
        sim.stop()
else:
    print("note: Modbus is not in this build: its examples are not checked", flush=True)

shutil.rmtree(d, ignore_errors=True)
finish()
