"""The Grafana dashboards of contrib/grafana, checked offline:

- they are what contrib/grafana/make_dashboards.py writes (no hand edits);
- our checks: unique panel ids, panels inside the 24-column grid and not
  overlapping, every $variable defined (or one of Grafana's own), the data
  source a variable in every panel and target, and the queries using only
  our measurement, tag and reading names;
- the TypeScript types of @grafana/schema (npm) accept them: tsc --strict
  over `const d: Dashboard = <the JSON>` (skipped with a message when npm
  cannot install the pinned packages of tests/grafana/package.json).

That every panel query returns data from InfluxDB filled by our programs
is checked by test_influxdb.py."""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

from smtest import check, finish, skip, top_builddir, top_srcdir

gdir = os.path.join(top_srcdir, "contrib", "grafana")
FILES = {"smartmeter-collectd.json": ("smartmeter_value", "instance", "type_instance",
                                      {"host", "instance", "type", "type_instance"}),
         "smartmeter-telegraf.json": ("smartmeter", "meter", "name", {"meter", "name", "obis", "unit"})}
if not os.path.isdir(gdir):
    skip("contrib/grafana is missing")

# ---- the files are the generator's output ----
tmp = tempfile.mkdtemp(prefix="sm-grafana-")
subprocess.run([sys.executable, os.path.join(gdir, "make_dashboards.py"), tmp], check=True)
for name in FILES:
    with open(os.path.join(gdir, name)) as a, open(os.path.join(tmp, name)) as b:
        check(a.read() == b.read(), "contrib/grafana/%s is make_dashboards.py's output" % name)

# Reading names a panel may ask for: SPEC section 6 names.
PH = ["l1", "l2", "l3"]
KNOWN = {"power_import", "power_export", "power_net", "tariff", "gas_volume", "water_volume",
         "power_failures", "long_power_failures", "energy_import", "energy_export"}
KNOWN |= {"%s_%s" % (b, p) for b in ("power_import", "power_export", "power_net", "voltage", "current",
                                      "voltage_sags", "voltage_swells") for p in PH}
KNOWN |= {"energy_%s_t%d" % (d, t) for d in ("import", "export") for t in range(1, 10)}
BUILTIN_VARS = {"timeFilter", "__interval", "__interval_ms", "__range", "__from", "__to"}

dashboards = {}
for name, (measurement, meter_key, name_key, tags) in FILES.items():
    with open(os.path.join(gdir, name)) as f:
        d = json.load(f)
    dashboards[name] = d
    what = "contrib/grafana/" + name
    panels = d.get("panels", [])
    ids = [p.get("id") for p in panels]
    check(len(panels) >= 10 and len(set(ids)) == len(ids), "%s: %d panels, unique ids" % (what, len(panels)))
    cells, overlap, outside = set(), [], []
    for p in panels:
        g = p.get("gridPos", {})
        if not (g.get("x", -1) >= 0 and g.get("w", 0) > 0 and g["x"] + g["w"] <= 24 and g.get("h", 0) > 0):
            outside.append(p.get("title"))
            continue
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                if (x, y) in cells:
                    overlap.append(p.get("title"))
                cells.add((x, y))
    check(not outside and not overlap, "%s: panels inside the 24-column grid, no overlaps %s %s" % (
        what, outside, sorted(set(overlap))))
    defined = {v["name"] for v in d.get("templating", {}).get("list", [])}
    check({"datasource", "meter"} <= defined, "%s: variables datasource and meter defined" % what)
    dsvar = [v for v in d["templating"]["list"] if v["name"] == "datasource"]
    check(dsvar and dsvar[0]["type"] == "datasource" and dsvar[0]["query"] == "influxdb",
          "%s: the data source is a variable of type influxdb" % what)
    text = json.dumps(d)
    used = set(re.findall(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)", text))
    used = {u for u in used if not u.startswith("tag_")}
    check(used <= defined | BUILTIN_VARS, "%s: every $variable is defined %s" % (
        what, sorted(used - defined - BUILTIN_VARS)))
    bad_ds = [p["title"] for p in panels if p.get("datasource") != {"type": "influxdb", "uid": "${datasource}"}
              or any(t.get("datasource") != {"type": "influxdb", "uid": "${datasource}"} for t in p["targets"])]
    check(not bad_ds, "%s: every panel and target uses ${datasource} %s" % (what, bad_ds))
    bad_q = []
    for p in panels:
        for t in p["targets"]:
            qtext = t["query"]
            ms = set(re.findall(r'FROM "([^"]+)"', qtext))
            where, _, group = qtext.partition("GROUP BY")
            tagrefs = set(re.findall(r'"([a-z_]+)" =~', where)) | set(re.findall(r'"([a-z_]+)"', group))
            names = set()
            for grp in re.findall(r'=~ /\^\(([^)]*)\)\$/', qtext):
                names |= set(grp.split("|"))
            if ms != {measurement} or not tagrefs <= tags or not names <= KNOWN or not names:
                bad_q.append((p["title"], sorted(ms), sorted(tagrefs - tags), sorted(names - KNOWN)))
    check(not bad_q, "%s: queries use only measurement %s, our tags and SPEC reading names %s" % (
        what, measurement, bad_q[:2]))
    kinds = {p["type"] for p in panels}
    check({"stat", "timeseries", "barchart", "state-timeline", "table"} <= kinds,
          "%s: stat, time series, bar chart, state timeline and table panels" % what)

# ---- @grafana/schema's TypeScript types ----
npm = shutil.which("npm")
if npm is None or shutil.which("node") is None:
    print("SKIP tsc: node/npm not installed", flush=True)
else:
    work = os.path.join(top_builddir, "tests", "grafana-check")
    os.makedirs(work, exist_ok=True)
    for f in ("package.json", "package-lock.json"):
        shutil.copy(os.path.join(top_srcdir, "tests", "grafana", f), os.path.join(work, f))
    tsc = os.path.join(work, "node_modules", ".bin", "tsc")
    if not os.path.exists(tsc):
        r = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=work,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)
        if r.returncode != 0:
            print("SKIP tsc: npm ci failed: %s" % r.stdout.decode(errors="replace")[-300:], flush=True)
    if os.path.exists(tsc):
        for name, d in dashboards.items():
            for k in ("__inputs", "__requires", "__elements"):
                d.pop(k, None)
            ts = os.path.join(work, "dash.ts")
            with open(ts, "w") as f:
                f.write("import type { Dashboard } from '@grafana/schema';\n"
                        "export const d: Dashboard = %s;\n" % json.dumps(d, indent=1))
            r = subprocess.run([tsc, "--noEmit", "--strict", "--module", "nodenext", "--moduleResolution",
                                "nodenext", "--skipLibCheck", "dash.ts"], cwd=work,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)
            check(r.returncode == 0, "contrib/grafana/%s type-checks against @grafana/schema (tsc --strict) %s" % (
                name, r.stdout.decode(errors="replace")[:400]))
shutil.rmtree(tmp, ignore_errors=True)
finish()
