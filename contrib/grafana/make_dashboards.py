#!/usr/bin/env python3
"""Writes the two Grafana dashboards of contrib/grafana from one panel list:

  smartmeter-collectd.json  data from collectd's network plugin in InfluxDB 1.x
                            (measurement smartmeter_value, tags instance and
                            type_instance)
  smartmeter-telegraf.json  data from `smartmeter read` under Telegraf
                            (measurement smartmeter, tags meter and name)

Classic dashboard JSON with the data source as a variable (${datasource}),
so the files work both when imported and when provisioned.  Run it after
changing a panel; test_grafana.py checks that the files are its output.

  python3 contrib/grafana/make_dashboards.py [DIR]
"""
import json
import os
import sys

SCHEMAS = {
    "collectd": {"file": "smartmeter-collectd.json", "title": "Smart meters (collectd)",
                 "uid": "smartmeter-collectd", "measurement": "smartmeter_value", "meter": "instance",
                 "name": "type_instance"},
    "telegraf": {"file": "smartmeter-telegraf.json", "title": "Smart meters (Telegraf)",
                 "uid": "smartmeter-telegraf", "measurement": "smartmeter", "meter": "meter", "name": "name"},
}

DS = {"type": "influxdb", "uid": "${datasource}"}


def names_re(names):
    return "/^(" + "|".join(names) + ")$/"


def q(s, sel, names, group="time($__interval), {name}, {meter}", extra=""):
    """A raw InfluxQL query over the given reading names of the chosen meters."""
    return ('SELECT {sel} FROM "{m}" WHERE "{meter}" =~ /^$meter$/ AND "{name}" =~ {re} AND $timeFilter{extra} '
            'GROUP BY {group}').format(sel=sel, m=s["measurement"], meter=s["meter"], name=s["name"],
                                       re=names_re(names), extra=extra,
                                       group=group.format(name='"%s"' % s["name"], meter='"%s"' % s["meter"]))


def target(query, ref="A", fmt="time_series", alias="$tag_{name} $tag_{meter}"):
    return {"refId": ref, "datasource": DS, "rawQuery": True, "resultFormat": fmt, "query": query,
            "alias": alias}


PHASES = ["l1", "l2", "l3"]


def panels(s):
    al = "$tag_%s $tag_%s" % (s["name"], s["meter"])
    out = []

    def add(kind, title, grid, targets, unit=None, extra=None):
        p = {"id": len(out) + 1, "type": kind, "title": title, "datasource": DS,
             "gridPos": {"h": grid[3], "w": grid[2], "x": grid[0], "y": grid[1]},
             "targets": targets, "fieldConfig": {"defaults": {}, "overrides": []}, "options": {}}
        if unit:
            p["fieldConfig"]["defaults"]["unit"] = unit
        if extra:
            for k, v in extra.items():
                p[k] = v
        out.append(p)

    power_now = ["power_import", "power_export", "power_net"]
    add("stat", "Power now", (0, 0, 8, 6),
        [target(q(s, 'last("value")', power_now, group='{name}, {meter}'), alias=al)], "watt",
        {"options": {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                     "colorMode": "value", "graphMode": "area", "textMode": "auto"}})
    add("timeseries", "Power import and export", (8, 0, 16, 6),
        [target(q(s, 'mean("value")', power_now), alias=al)], "watt")
    per_phase = ["power_%s_%s" % (d, p) for d in ("import", "export", "net") for p in PHASES]
    add("timeseries", "Power per phase", (0, 6, 12, 8),
        [target(q(s, 'mean("value")', per_phase), alias=al)], "watt")
    add("timeseries", "Voltage per phase", (12, 6, 12, 8),
        [target(q(s, 'mean("value")', ["voltage_" + p for p in PHASES]), alias=al)], "volt",
        {"fieldConfig": {"defaults": {"unit": "volt", "min": 200, "max": 260}, "overrides": []},
         "description": "230 V nominal; EN 50160 allows 207 to 253 V (10-minute means)"})
    add("timeseries", "Current per phase", (0, 14, 12, 8),
        [target(q(s, 'mean("value")', ["current_" + p for p in PHASES]), alias=al)], "amp")
    add("state-timeline", "Tariff", (12, 14, 12, 8),
        [target(q(s, 'last("value")', ["tariff"]), alias=al)], None)
    tariffs = ["energy_import_t1", "energy_import_t2", "energy_export_t1", "energy_export_t2",
               "energy_import", "energy_export"]
    add("barchart", "Energy per day by tariff", (0, 22, 12, 8),
        [target(q(s, 'non_negative_difference(last("value"))', tariffs, group="time(1d), {name}, {meter}"),
                alias=al)], "watth",
        {"interval": "1d", "options": {"stacking": "normal", "xTickLabelRotation": -45}})
    add("barchart", "Gas and water per day", (12, 22, 12, 8),
        [target(q(s, 'non_negative_difference(last("value"))', ["gas_volume", "water_volume"],
                  group="time(1d), {name}, {meter}"), alias=al)], "m3",
        {"interval": "1d", "options": {"stacking": "none", "xTickLabelRotation": -45}})
    events = ["power_failures", "long_power_failures"] + ["voltage_sags_" + p for p in PHASES] + \
        ["voltage_swells_" + p for p in PHASES]
    add("stat", "Power failures and voltage events", (0, 30, 12, 6),
        [target(q(s, 'last("value")', events, group='{name}, {meter}'), alias=al)], "none",
        {"options": {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                     "colorMode": "value", "graphMode": "none", "textMode": "value_and_name"}})
    add("table", "Energy import per meter, last 30 days (submetering)", (12, 30, 12, 6),
        [target(q(s, 'spread("value") AS "energy_import"', ["energy_import"],
                  group='{meter}'), fmt="table", alias="")], "watth",
        {"timeFrom": "30d", "options": {"showHeader": True},
         "description": "One row per meter: the growth of its energy_import counter (meters that count "
                        "per tariff only, as DSMR meters do, have no row)"})
    return out


def dashboard(key):
    s = SCHEMAS[key]
    return {
        "title": s["title"],
        "uid": s["uid"],
        "description": "Readings of collectd-smartmeter meters in InfluxDB 1.x (%s)" % (
            "collectd network plugin -> InfluxDB collectd listener" if key == "collectd"
            else "smartmeter read under Telegraf inputs.execd"),
        "tags": ["smartmeter", "energy", key],
        "editable": True,
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-24h", "to": "now"},
        "timezone": "browser",
        "annotations": {"list": []},
        "templating": {"list": [
            {"name": "datasource", "label": "InfluxDB", "type": "datasource", "query": "influxdb",
             "hide": 0, "refresh": 1, "regex": "", "options": []},
            {"name": "meter", "label": "Meter", "type": "query", "datasource": DS,
             "query": 'SHOW TAG VALUES FROM "%s" WITH KEY = "%s"' % (s["measurement"], s["meter"]),
             "multi": True, "includeAll": True, "allValue": ".*", "hide": 0, "refresh": 2,
             "regex": "", "sort": 1, "options": []},
        ]},
        "panels": panels(s),
    }


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    for key, s in SCHEMAS.items():
        with open(os.path.join(out_dir, s["file"]), "w") as f:
            json.dump(dashboard(key), f, indent=2, sort_keys=False)
            f.write("\n")


if __name__ == "__main__":
    main()
