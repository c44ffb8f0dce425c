#!/usr/bin/env python3
"""One line per `dolbom-sim load --json` report: the issue-14 targets at a glance.

    python3 scripts/loadsum.py REPORT.json...
"""
import json, sys

def g(d, *ks):
    for k in ks:
        if not isinstance(d, dict) or k not in d or d[k] is None:
            return None
        d = d[k]
    return d

def f(v, fmt="{:.0f}"):
    return "-" if v is None else fmt.format(v)

for path in sys.argv[1:]:
    try:
        d = json.load(open(path))
    except Exception as e:
        print(path, "unreadable:", e); continue
    lat = d.get("latency_ms", {})
    st = d.get("steady_cpu") or {}
    fl = d.get("fleet", {})
    rs = d.get("restart") or {}
    print(f"{path}: homes {d['homes']} conn {d['connected']} in {f(d.get('connect_s'),'{:.1f}')}s"
          f" | inc p99 {f(g(lat,'incident','p99'))} (online {f(g(lat,'incident_all_online','p99'))}, buffered {f(g(lat,'incident_buffered','p99'))}) ms"
          f" | emPUBACK p99 {f(g(fl,'emergency_puback_ms','p99'))} ms | PUBACK p99 {f(g(fl,'puback_ms','p99'))}"
          f" | sent/acked/lost/dup {d.get('emergencies_sent')}/{d.get('emergencies_acked')}/{d.get('lost')}/{d.get('duplicates')}"
          f" | disc {fl.get('disconnects')} refused {fl.get('refused_connects')} {d.get('gateway_connect_refused')} yielded {d.get('gateway_connects_yielded')}"
          f" | RSS {f((d.get('process_rss_bytes') or 0)/2**30,'{:.2f}')} GiB"
          f" | steady {f(st.get('cores'),'{:.2f}')} cores {f(st.get('cpu_us_per_msg'))} us/msg, gw {f(st.get('gateway_cores'),'{:.2f}')} / {f(st.get('gateway_cpu_us_per_msg'))} us"
          + (f" | restart stop {f(rs.get('stop_s'),'{:.1f}')} outage {f(rs.get('outage_s'),'{:.1f}')} back {f(rs.get('back_s'),'{:.1f}')} buffered {rs.get('buffered_emergencies_sent')}/{rs.get('buffered_emergencies_incidents')}" if rs else "")
          + f" | {g(d,'machine','commit')}")
    for s in (d.get("slowest_incidents") or [])[:3]:
        print("   slow:", json.dumps(s)[:200])
