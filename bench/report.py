"""The headline figures of a run, their targets, and the printed table."""

from __future__ import annotations

from typing import Any

#: p95 targets (ms) from issue 7, stated for 10 M rows over 7 days.
P95_TARGETS_MS = {"filtered_1h": 20.0, "fulltext_24h": 150.0, "histogram_24h_all": 100.0}
E2E_OVER_COPY_TARGET = 0.70
API_OVER_SQL_TARGET = 1.2


def summary(results: dict[str, Any]) -> dict[str, Any]:
    """Flat headline metrics (the names issue 7 asks for); None where a phase did not run."""
    def get(*path: str) -> Any:
        node: Any = results
        for key in path:
            if not isinstance(node, dict) or key not in node:
                return None
            node = node[key]
        return node

    copy, e2e = get("copy", "copy_rows_per_s"), get("e2e", "e2e_rows_per_s")
    out: dict[str, Any] = {
        "copy_rows_per_s": copy,
        "e2e_rows_per_s": e2e,
        "e2e_over_copy": round(e2e / copy, 2) if copy and e2e else None,
        "accept_rows_per_s": get("accept", "accept_rows_per_s"),
        "bytes_per_record": get("storage", "bytes_per_record"),
        "raw_json_bytes_per_record": get("storage", "raw_json_bytes_per_record"),
        "dataset_rows": get("storage", "rows"),
        "queries": {
            name: {"api_p50_ms": q["api_ms"]["p50"], "api_p95_ms": q["api_ms"]["p95"], "api_p99_ms": q["api_ms"]["p99"],
                   "sql_p50_ms": q["sql_ms"]["p50"], "sql_p95_ms": q["sql_ms"]["p95"], "sql_p99_ms": q["sql_ms"]["p99"],
                   "api_over_sql": q["api_over_sql"]}
            for name, q in (get("queries") or {}).items()
        },
    }
    cpu, records = get("e2e", "cpu_seconds"), get("e2e", "records")
    if cpu and records:
        roles = [role for role in cpu if role not in ("total", "wall")]
        out["e2e_cpu_s_per_100k_rows"] = {role: round(cpu[role] * 100_000 / records, 2) for role in roles + ["total"]}
        out["e2e_cpu_busy_pct"] = get("e2e", "cpu_busy_pct")
    for name in ("soak", "soak_sustainable"):
        if name in results:
            out[name] = results[name]
    return out


def _num(value: float | None, fmt: str = ",.0f") -> str:
    return "—" if value is None else format(value, fmt)


def _verdict(ok: bool | None) -> str:
    return "" if ok is None else ("ok" if ok else "MISSED")


def _cpu_lines(s: dict[str, Any]) -> list[str]:
    cpu = s.get("e2e_cpu_s_per_100k_rows")
    if not cpu:
        return []
    parts = ", ".join(f"{role} {seconds:.2f}" for role, seconds in cpu.items() if role != "total")
    return [f"  e2e CPU s per 100 k rows: {parts}; total {cpu['total']:.2f} (cores {s['e2e_cpu_busy_pct']} % busy)"]


def table(results: dict[str, Any]) -> str:
    """Human-readable table of the run."""
    s = results["summary"]
    m = results["machine"]
    lines = [
        f"logagg benchmark — mode {results['mode']}, {_num(s['dataset_rows'])} rows in the query data set",
        (f"machine: {m['cpus']} CPU ({m['cpu_model']}), {m['mem_gib']} GiB; load average at start "
        f"{m['loadavg_at_start']}, at end {m.get('loadavg_at_end')}"),
        "",
        f"{'metric':<34}{'value':>14}  {'target':<12}{'':<7}",
        f"{'copy_rows_per_s (raw COPY)':<34}{_num(s['copy_rows_per_s']):>14}",
        f"{'e2e_rows_per_s (HTTP→queryable)':<34}{_num(s['e2e_rows_per_s']):>14}",
        (f"{'e2e_over_copy':<34}{_num(s['e2e_over_copy'], '.2f'):>14}  {'≥ 0.70':<12}"
         f"{_verdict(s['e2e_over_copy'] >= E2E_OVER_COPY_TARGET if s['e2e_over_copy'] is not None else None)}"),
        f"{'accept_rows_per_s (1 API worker)':<34}{_num(s['accept_rows_per_s']):>14}",
        *_cpu_lines(s),
        f"{'bytes_per_record (disk, +indexes)':<34}{_num(s['bytes_per_record']):>14}",
        f"{'raw JSON bytes per record':<34}{_num(s['raw_json_bytes_per_record']):>14}",
        "",
        (f"{'query (ms)':<20}{'api p50':>9}{'p95':>9}{'p99':>9}{'sql p50':>9}{'p95':>9}{'p99':>9}"
        f"{'api/sql':>9}  p95 target (10 M)"),
    ]
    for name, q in s["queries"].items():
        target = P95_TARGETS_MS.get(name)
        verdict = f"≤ {target:.0f} {_verdict(q['api_p95_ms'] <= target)}" if target else ""
        ratio = q["api_over_sql"]
        lines.append(
            f"{name:<20}{q['api_p50_ms']:>9.1f}{q['api_p95_ms']:>9.1f}{q['api_p99_ms']:>9.1f}"
            f"{q['sql_p50_ms']:>9.1f}{q['sql_p95_ms']:>9.1f}{q['sql_p99_ms']:>9.1f}"
            f"{ratio if ratio is not None else float('nan'):>9.2f}  {verdict}"
        )
    lines.append(f"(api/sql = ratio of p50s; target ≤ {API_OVER_SQL_TARGET})")
    for name, basis in (("soak", "80 % of accept"), ("soak_sustainable", "80 % of e2e")):
        if name in s:
            k = s[name]
            lines += ["", (f"{name} {k['seconds']:.0f}s at {k['target_rows_per_s']:,.0f} rows/s ({basis}): "
                      f"errors {k['errors'] or 'none'}, "
                      f"RSS growth api {k['api_rss_growth_pct']}% consumer {k['consumer_rss_growth_pct']}% (target < 10), "
                      f"max lag {k['max_lag']:.0f} messages, lag back to zero: {k['lag_returned_to_zero']} "
                      f"({k.get('drain_after_load_s')} s after the load)")]
    return "\n".join(lines)
