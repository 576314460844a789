"""The report as one self-contained HTML page: inline CSS and SVG, no script, nothing fetched.

Every catalog value is untrusted text: it reaches the page only through :func:`esc`
(``html.escape``, quotes included, so also safe in attributes) or inside an SVG that escaped
it (matplotlib, :mod:`lifecycle.output.svg`). The page's content security policy forbids any
script, fetch, font or image from elsewhere: it reads the same offline, by e-mail and with
JavaScript disabled. Figures a test compares with ``audit``/``overview`` JSON carry their raw
value in ``data-value`` next to the number written for people, under a ``data-key`` naming it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from html import escape
from types import SimpleNamespace
from typing import Any

from lifecycle.output.svg import check_size, layout, svg_text
from lifecycle.report import charts
from lifecycle.report.data import FULL, MONTHS, TOP, ReportData
from lifecycle.text import human_bytes, number

TB = 10**12
SECTIONS = ("overview", "compliance", "storage", "preservation", "lifetime", "risk",
            "provenance", "repair")  # fmt: skip
STYLE = (
    "body{font-family:system-ui,sans-serif;margin:0 auto;max-width:62em;padding:1em 1.5em;"
    "color:#1a1a1a;line-height:1.4}"
    "nav ul{list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:.3em 1.2em}"
    "section{border-top:2px solid #0072B2;margin-top:2em;padding-top:.2em}"
    "h1{font-size:1.6em}h2{font-size:1.3em}h3{font-size:1.05em;margin-bottom:.3em}"
    ".what{color:#444;font-style:italic}"
    "table{border-collapse:collapse;margin:.5em 0;font-size:.9em}"
    "th,td{padding:2px 10px;text-align:right;vertical-align:top}"
    "th:first-child,td:first-child{text-align:left}th{border-bottom:1px solid #999}"
    "td.text,th.text{text-align:left;overflow-wrap:anywhere}"
    "tr.flag td{color:#a33c00;font-weight:bold}"
    "figure{margin:1em 0}svg.chart{max-width:100%;height:auto}"
    ".graph{overflow:auto;border:1px solid #ddd;margin:.5em 0}"
    "dl.figures{display:grid;grid-template-columns:max-content auto;gap:.1em 1em}"
    "dl.figures dt{font-weight:bold}dl.figures dd{margin:0}"
    "details{margin:.3em 0 1em}summary{cursor:pointer;color:#0072B2}"
    "code{font-size:.95em;word-break:break-all}"
)


def esc(value: Any) -> str:
    """Untrusted text for HTML text or a quoted attribute."""
    return escape("" if value is None else str(value), quote=True)


def figure_value(key: str, value: int, text: str | None = None) -> str:
    """A number for people, its raw value and name in data attributes (tests read them)."""
    shown = number(value) if text is None else text
    return f'<span data-key="{esc(key)}" data-value="{int(value)}">{esc(shown)}</span>'


def counted(key: str, n: int, noun: str) -> str:
    """``n`` things as :func:`lifecycle.text.count` writes them, the number a figure."""
    return f"{figure_value(key, n)} {esc(noun if n == 1 else noun + 's')}"


class Cell:
    """A table cell: its HTML (already safe), whether it is text (left-aligned)."""

    def __init__(self, html: str, text: bool = False) -> None:
        self.html, self.text = html, text


def cell(value: Any) -> Cell:
    if isinstance(value, Cell):
        return value
    if isinstance(value, bool):
        return Cell("yes" if value else "no")
    if isinstance(value, int):
        return Cell(esc(number(value)))
    if isinstance(value, float):
        return Cell(esc(f"{value:,.1%}" if 0 <= value <= 1 else f"{value:,.2f}"))
    return Cell(esc(value), text=True)


def table(
    headers: Sequence[str], body: Iterable[Sequence[Any]], flagged: Iterable[bool] = ()
) -> str:
    flags = list(flagged)
    out = []
    texts: list[bool] = []
    for n, row in enumerate(body):
        cells = [cell(v) for v in row]
        texts = texts or [c.text for c in cells]
        tds = "".join(f'<td class="text">{c.html}</td>' if c.text else f"<td>{c.html}</td>"
                      for c in cells)  # fmt: skip
        flag = ' class="flag"' if n < len(flags) and flags[n] else ""
        out.append(f"<tr{flag}>{tds}</tr>")
    if not out:
        return '<p class="empty">None.</p>'
    head = "".join(
        ('<th scope="col" class="text">' if n < len(texts) and texts[n] else '<th scope="col">')
        + f"{esc(h)}</th>"
        for n, h in enumerate(headers)
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(out)}</tbody></table>"


def chart(svg: str, headers: Sequence[str], body: Iterable[Sequence[Any]]) -> str:
    """A chart and, behind a ``<details>``, the table of its numbers."""
    return (
        f"<figure>{svg}</figure>\n<details><summary>The numbers of this chart</summary>"
        f"{table(headers, body)}</details>\n"
    )


def section(key: str, title: str, what: str, body: str) -> str:
    return (
        f'<section id="{key}" aria-labelledby="h-{key}">\n<h2 id="h-{key}">{esc(title)}</h2>\n'
        f'<p class="what">{esc(what)}</p>\n{body}</section>\n'
    )


def known(value: Any) -> int | None:
    """An integer cell of a frame, None when missing (None, NaN or pandas' NA)."""
    try:
        return None if value is None or value != value else int(value)
    except TypeError:  # pd.NA: its comparisons are NA, whose truth is ambiguous
        return None


def label(value: Any) -> str:
    """A text cell of a frame, a dash when missing or blank."""
    return value if isinstance(value, str) and value else "—"


def moment(value: Any) -> str:
    """A time cell (a datetime or pandas timestamp, UTC) to the minute, a dash when missing."""
    if value is None or value != value or not hasattr(value, "strftime"):  # None, NaT, text
        return "—"
    return value.strftime("%Y-%m-%d %H:%M")


def tb(value: Any) -> float:
    found = known(value)
    return 0.0 if found is None else found / TB


def render(data: ReportData, ready: Mapping[str, str] | None = None) -> str:
    """The whole page (``ready``: sections rendered ahead, see :func:`prerender`)."""
    ready = ready or {}
    names = list(SECTIONS)
    if data.durability is not None or data.decade is not None:
        names.insert(SECTIONS.index("risk") + 1, "durability")
    parts = [ready[name] if name in ready else _SECTIONS[name][0](data) for name in names]
    nav = "".join(f'<li><a href="#{n}">{n.capitalize()}</a></li>' for n in names)
    when = data.now.strftime("%Y-%m-%d %H:%M UTC")
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta http-equiv="Content-Security-Policy" '
        "content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">\n"
        f"<title>lifecycle report, {esc(when)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        f"<header><h1>Data lifecycle report</h1>\n<p>{esc(data.catalog)}, as of {esc(when)}</p>\n"
        f'<nav aria-label="sections"><ul>{nav}</ul></nav></header>\n<main>\n'
        + "".join(parts)
        + "</main>\n<footer><p>Written by <code>lifecycle report</code>; every number is "
        "also given by the command its section names.</p></footer>\n</body>\n</html>\n"
    )


def overview(data: ReportData) -> str:
    ov = data.overview
    totals = ov.summary()
    audit = data.compliance.audit
    facts = [
        ("catalog", esc(data.catalog)),
        ("as of", esc(data.now.isoformat().replace("+00:00", "Z"))),
        ("policies", esc(audit.run.get("policies"))),
        ("policy hash", f"<code>{esc(data.policies.content_hash)}</code>"),
        *(
            (name, figure_value(f"overview.{name}", totals[name]))
            for name in ("sites", "endpoints", "datasets", "replicas")
        ),
        ("bytes", figure_value("overview.bytes", totals["bytes"], human_bytes(totals["bytes"]))),
    ]
    dl = "".join(f"<dt>{esc(k)}</dt><dd>{v}</dd>" for k, v in facts)
    kinds = ov.datasets_by_kind.groupby("kind", as_index=False).agg(
        datasets=("datasets", "sum"), bytes=("bytes", lambda b: sum(int(v) for v in b.dropna()))
    )
    by_kind = [
        (k, Cell(figure_value(f"overview.kind.{k}", int(n))), human_bytes(int(b)))
        for k, n, b in kinds[["kind", "datasets", "bytes"]].itertuples(index=False)
    ]
    types = ov.datasets_by_kind.sort_values("bytes", ascending=False).head(TOP)
    by_type = [
        (r.kind, r.data_type or "—", int(r.datasets), human_bytes(r.bytes))
        for r in types.itertuples(index=False)
    ]
    tiers = [
        (f"tier {int(r.tier)}", int(r.sites), int(r.endpoints),
         human_bytes(r.tape_capacity_bytes), human_bytes(r.disk_capacity_bytes))
        for r in ov.sites_by_tier.itertuples(index=False)
    ]  # fmt: skip
    replicas = [
        (r.media, r.state, Cell(figure_value(f"overview.replicas.{r.media}.{r.state}",
                                             int(r.replicas))), human_bytes(r.bytes))
        for r in ov.replicas_by_state.itertuples(index=False)
    ]  # fmt: skip
    bars = charts.bars(
        "overview-kinds",
        "Bytes by kind of dataset",
        list(kinds["kind"]),
        [tb(b) for b in kinds["bytes"]],
        "size (TB, 10^12 bytes)",
        [charts.PALETTE[n % 8] for n in range(len(kinds))],
    )
    body = (
        f'<dl class="figures">{dl}</dl>\n'
        + chart(bars, ["kind", "TB"], [(k, round(tb(b), 3)) for k, b in zip(kinds["kind"],
                                                                         kinds["bytes"],
                                                                         strict=True)])
        + "<h3>Datasets by kind</h3>\n" + table(["kind", "datasets", "size"], by_kind)
        + f"<h3>The {TOP} largest data types</h3>\n"
        + table(["kind", "data type", "datasets", "size"], by_type)
        + "<h3>Sites by tier</h3>\n"
        + table(["tier", "sites", "endpoints", "tape capacity", "disk capacity"], tiers)
        + "<h3>Replicas by media and state</h3>\n"
        + table(["media", "state", "replicas", "size"], replicas)
    )  # fmt: skip
    return section(
        "overview", "Overview",
        "Datasets, bytes and replicas by kind, data type and tier; details: lifecycle overview.",
        body,
    )  # fmt: skip


def compliance(data: ReportData) -> str:
    c = data.compliance
    summary = c.audit.summary
    sev = summary["by_severity"]
    types = {rule.name: rule for rule in data.policies.rules}
    headline = (
        f"<p>{figure_value('audit.findings', summary['findings'])} findings now: "
        f"{figure_value('audit.error', sev['error'])} errors, "
        f"{figure_value('audit.warning', sev['warning'])} warnings, "
        f"{figure_value('audit.info', sev['info'])} info, from "
        f"{figure_value('audit.rules', summary['rules'])} rules over "
        f"{figure_value('audit.datasets', summary['datasets'])} datasets.</p>\n"
    )
    per_rule = [
        (rule, types[rule].severity if rule in types else "", Cell(figure_value(
            f"audit.by_rule.{rule}", n)))
        for rule, n in summary["by_rule"].items()
    ]  # fmt: skip
    body = (
        headline
        + "<h3>Findings per rule</h3>\n"
        + table(["rule", "severity", "findings"], per_rule)
    )
    body += "<h3>Trend over the stored audit runs</h3>\n"
    if c.trend.empty:
        body += "<p>No audit run is stored yet: <code>lifecycle audit</code> records one.</p>\n"
    else:
        pivot = c.trend.pivot_table(index="run", columns="rule", values="findings",
                                    aggfunc="sum", sort=True)  # fmt: skip
        runs = [str(r) for r in pivot.index]
        series = {rule: [0 if v != v else int(v) for v in pivot[rule]] for rule in pivot.columns}
        svg = charts.lines(
            "compliance-trend", "Findings per rule over the stored audit runs", runs, series,
            "audit run (id)", "findings (datasets)",
        )  # fmt: skip
        body += chart(
            svg, ["run", *pivot.columns],
            [(r, *(series[rule][n] for rule in pivot.columns)) for n, r in enumerate(runs)],
        )  # fmt: skip
    body += "<h3>Since the previous run</h3>\n"
    if c.changes is None:
        body += "<p>Fewer than two stored runs: nothing to compare yet.</p>\n"
    else:
        ch = c.changes
        body += (
            f"<p>Between runs {int(ch['from'])} and {int(ch['to'])}: "
            f"{counted('changes.appeared', ch['appeared'], 'finding')} appeared, "
            f"{figure_value('changes.resolved', ch['resolved'])} resolved "
            "(details: lifecycle audit diff).</p>\n"
        ) + table(
            ["rule", "appeared", "resolved"],
            [(rule, v["appeared"], v["resolved"]) for rule, v in ch["by_rule"].items()],
        )
    body += f"<h3>The {TOP} causes behind the most findings</h3>\n" + table(
        ["rule", "severity", "cause", "datasets", "example"],
        [(x.rule, x.severity, x.cause, x.datasets, x.example) for x in c.causes[:TOP]],
    )
    if len(c.causes) > TOP:
        body += (
            f"<p>{number(len(c.causes) - TOP)} more causes: lifecycle audit --group-by cause.</p>\n"
        )
    body += f"<h3>The {TOP} sites holding data with the most findings</h3>\n"
    if not c.by_site.empty:
        svg = charts.bars(
            "compliance-sites", "Findings by site of the data's copies", list(c.by_site["site"]),
            list(c.by_site["findings"]), "findings (datasets with a copy at the site)",
        )  # fmt: skip
        body += chart(svg, ["site", "findings", "rules"], c.by_site.itertuples(index=False))
    else:
        body += "<p>None.</p>\n"
    return section(
        "compliance", "Compliance",
        "Findings of the policies now, their trend over stored runs, and the few causes behind "
        "them; details: lifecycle audit, audit history, audit diff, audit --group-by cause.",
        body,
    )  # fmt: skip


def storage(data: ReportData) -> str:
    found = data.storage.usage.copy()
    tiers = {r.site: int(r.tier) for r in data.sites.itertuples(index=False)}
    found["tier"] = found["site"].map(tiers)
    found["full"] = [
        (None if not known(cap) else int(used) / int(cap))
        for used, cap in zip(found["used_bytes"], found["capacity_bytes"], strict=True)
    ]
    over = found[found["full"].map(lambda f: f is not None and f > FULL).astype(bool)]
    found["_full"] = [-1.0 if f is None else f for f in found["full"]]
    ordered = found.sort_values(["_full", "used_bytes", "endpoint"], ascending=[False, False, True])
    ordered = ordered.head(30)
    legend = {f"tier {t}": c for t, c in charts.TIER_COLOURS.items() if t in set(ordered["tier"])}
    svg = charts.bars(
        "storage-endpoints", f"The {len(ordered)} fullest endpoints: used bytes against capacity",
        list(ordered["endpoint"]), [0.0 if f is None else 100 * f for f in ordered["full"]],
        f"used (% of the endpoint's capacity); dashed: {FULL:.0%}",
        [charts.TIER_COLOURS.get(int(t), "#999999") for t in ordered["tier"]],
        legend=legend, limit=100 * FULL,
    )  # fmt: skip
    rows = [
        (r.endpoint, r.site, int(r.tier), r.media, human_bytes(r.used_bytes),
         human_bytes(known(r.capacity_bytes)),
         "" if r.full is None else f"{r.full:.1%}")
        for r in ordered.itertuples(index=False)
    ]  # fmt: skip
    body = chart(svg, ["endpoint", "site", "tier", "media", "used", "capacity", "full"], rows)
    body += f"<h3>Endpoints above {FULL:.0%} full</h3>\n"
    body += f"<p>{counted('storage.over', len(over), 'endpoint')}.</p>\n" + table(
        ["endpoint", "site", "media", "used", "capacity", "full"],
        [(r.endpoint, r.site, r.media, human_bytes(r.used_bytes), human_bytes(r.capacity_bytes),
          f"{r.full:.1%}") for r in over.sort_values("full", ascending=False).head(TOP)
         .itertuples(index=False)],
        flagged=[True] * min(len(over), TOP),
    )  # fmt: skip
    sites = data.sites.sort_values(["used_bytes", "site"], ascending=[False, True])
    body += f"<h3>The {TOP} sites using most</h3>\n" + table(
        ["site", "tier", "media", "endpoints", "used", "capacity"],
        [(r.site, int(r.tier), r.media, int(r.endpoints), human_bytes(r.used_bytes),
          human_bytes(known(r.capacity_bytes)))
         for r in sites.head(TOP).itertuples(index=False)],
    )  # fmt: skip
    shares = data.storage.overall_shares()
    by_type = shares.groupby("data_type", dropna=False, as_index=False).agg(
        used_bytes=("used_bytes", "sum")
    ).sort_values("used_bytes", ascending=False)  # fmt: skip
    total = sum(int(v) for v in by_type["used_bytes"]) or 1
    top = by_type.head(12)
    svg = charts.bars(
        "storage-types", "Share of the used bytes by data type (all sites, tape and disk)",
        [label(t) for t in top["data_type"]],
        [100 * int(v) / total for v in top["used_bytes"]], "share of used bytes (%)",
        [charts.PALETTE[n % 8] for n in range(len(top))],
    )  # fmt: skip
    body += "<h3>Share by data type</h3>\n" + chart(
        svg, ["data type", "used", "share"],
        [(label(t), human_bytes(v), int(v) / total)
         for t, v in zip(top["data_type"], top["used_bytes"], strict=True)],
    )  # fmt: skip
    return section(
        "storage", "Storage",
        "Bytes of available replicas per endpoint and site against capacity, endpoints above "
        f"{FULL:.0%} flagged, and the share of each data type; details: lifecycle sites usage, "
        "lifecycle endpoints usage.",
        body,
    )  # fmt: skip


def preservation(data: ReportData) -> str:
    p = data.preservation
    raw = {str(r.copies): (int(r.datasets), int(r.bytes)) for r in p.raw_tape_copies.itertuples()}
    short = sum(raw.get(k, (0, 0))[0] for k in ("0", "1"))
    body = (
        f"<p>{figure_value('preservation.raw_short', short)} raw datasets have fewer than 2 tape "
        "copies at distinct sites.</p>\n"
        + table(["tape copies at distinct sites", "raw datasets", "size"],
                [(k, n, human_bytes(b)) for k, (n, b) in sorted(raw.items())])
        + f"<h3>The {TOP} largest raw datasets short of tape copies</h3>\n"
        + table(["dataset", "tape copies", "size"],
                [(r.did, int(r.copies), human_bytes(r.bytes))
                 for r in p.raw_short.itertuples(index=False)])
        + "<h3>Reproducibility of derived and simulated data by data type</h3>\n"
    )  # fmt: skip
    cov = p.coverage.head(15)
    if not cov.empty:
        svg = charts.bars(
            "preservation-coverage", "Share of derived and simulated datasets reproducible",
            [t or "—" for t in cov["data_type"]], [100 * float(s) for s in cov["share"]],
            "reproducible (% of the data type's datasets)",
            [charts.PALETTE[2] if s >= 0.99 else charts.PALETTE[5] for s in cov["share"]],
            limit=100.0,
        )  # fmt: skip
        body += chart(
            svg, ["data type", "datasets", "reproducible", "share"],
            [(t or "—", int(n), int(r), float(s)) for t, n, r, s in
             cov[["data_type", "datasets", "reproducible", "share"]].itertuples(index=False)],
        )  # fmt: skip
    body += "<h3>Why not reproducible</h3>\n" + table(["reason", "datasets"], p.reasons)
    return section(
        "preservation", "Preservation",
        "Raw data short of two tape copies at distinct sites, and how much derived data can be "
        "rebuilt; details: lifecycle audit, lifecycle provenance reproducibility.",
        body,
    )  # fmt: skip


def lifetime(data: ReportData) -> str:
    lt = data.lifetime
    months = sorted(set(lt.months["month"]))
    series: dict[str, list[float]] = {}
    for decision in ("delete", "keep"):
        part = lt.months[lt.months["decision"] == decision].set_index("month")["bytes"]
        series[f"would {decision}" if decision == "delete" else "would keep"] = [
            tb(part.get(m, 0)) for m in months
        ]
    body = ""
    if months:
        svg = charts.stacked(
            "lifetime-months", f"Bytes reaching their end of life, next {MONTHS} months",
            months, series, "month (UTC)", "size (TB, 10^12 bytes)",
        )  # fmt: skip
        body += chart(
            svg, ["month", *series],
            [(m, *(round(series[s][n], 3) for s in series)) for n, m in enumerate(months)],
        )  # fmt: skip
    else:
        body += f"<p>Nothing reaches its end of life in the next {MONTHS} months.</p>\n"
    now = lt.expired_now
    body += (
        "<h3>Past their end of life now</h3>\n"
        f"<p>{counted('lifetime.expired', now['expired'], 'dataset')}: "
        f"{figure_value('lifetime.delete', now['delete'])} would be deleted "
        f"(freeing {esc(human_bytes(now['bytes_freed']))}), "
        f"{figure_value('lifetime.keep', now['keep'])} kept.</p>\n"
        + table(["kept because", "datasets"], sorted(lt.kept.items(), key=lambda i: -i[1]))
    )
    return section(
        "lifetime", "Lifetime",
        "What reaches its end of life month by month, and what expiry keeps and why (pins, "
        "plans, irreproducible); details: lifecycle expire (a preview).",
        body,
    )  # fmt: skip


def risk(data: ReportData) -> str:
    rows = [
        (r["site"], r["tier"], r["lost"], human_bytes(r["lost_bytes"]), r["recoverable"],
         human_bytes(r["recoverable_bytes"]), r["violations"], r["re_replicate"])
        for r in data.risk
    ]  # fmt: skip
    body = table(
        ["site", "tier", "lost for good", "size", "recoverable", "size", "rule violations",
         "to copy again"],
        rows, flagged=[r["lost"] > 0 for r in data.risk],
    )  # fmt: skip
    return section(
        "risk", "Risk",
        "For each tier-0 and tier-1 site, what losing all its storage would do, most datasets "
        "lost for good first; details: lifecycle simulate loss --site NAME.",
        body,
    )  # fmt: skip


def durability(data: ReportData) -> str:
    body = "" if data.durability is None else _durability_now(data.durability)
    if data.decade is not None:
        body += _decade(data.decade)
    return section(
        "durability", "Durability",
        "The annual probability of losing data nothing regenerates, in nines (3 nines: one "
        "chance in a thousand a year), per kind, and the least durable datasets; details: "
        "lifecycle durability (and lifecycle simulate years for a simulated decade).",
        body,
    )  # fmt: skip


def _durability_now(found: dict[str, Any]) -> str:
    s = found.get("summary", {})

    def shown(value: float | None) -> str:
        return "—" if value is None else f"{value:.1f}"

    return (
        f"<p>Under the failure model {esc(s.get('model', ''))} (repair window "
        f"{s.get('repair_window_days', 0):.1f} days): {shown(s.get('nines'))} nines over "
        f"{number(s.get('non_regenerable', 0))} datasets nothing regenerates; expected lost a "
        f"year: {s.get('expected_datasets_lost_per_year', 0):.3g} datasets, "
        f"{esc(human_bytes(round(s.get('expected_bytes_lost_per_year', 0))))}.</p>\n"
        + table(["kind", "datasets", "size", "nines", "expected lost a year"],
                [(k["kind"], k["datasets"], human_bytes(k["bytes"]), shown(k["nines"]),
                  f"{k['expected_lost']:.3g}") for k in found.get("kinds", [])])
        + "<h3>Least durable</h3>\n"
        + table(["dataset", "kind", "nines", "why", "after repair"],
                [(r["did"], r["kind"], shown(r["nines"]), r["why"], shown(r.get("repaired")))
                 for r in found.get("least", [])])
    )  # fmt: skip


def _decade(decade: dict[str, Any]) -> str:
    """The saved simulated run: losses summed year by year, and the findings open each year."""
    s, years = decade["summary"], decade["years"]
    labels = [str(y["year"]) for y in years]
    lost, raw, total, total_raw = [], [], 0, 0
    for y in years:
        total, total_raw = total + y["lost"], total_raw + y["lost_raw"]
        lost.append(total)
        raw.append(total_raw)
    findings = [y["findings"] for y in years]
    series = {"lost for good, all kinds (to date)": lost, "raw lost for good (to date)": raw,
              "findings open at the year's end": findings}  # fmt: skip
    svg = charts.lines(
        "durability-decade", f"The simulated {len(years)} years: losses to date and open findings",
        labels, series, "simulated year", "datasets",
    )  # fmt: skip
    repair = "with repair" if s.get("repair") else "without repair (the counterfactual)"
    return (
        f"<h3>The simulated {len(years)} years</h3>\n"
        f"<p>Model {esc(label(s.get('model')))}, seed {esc(s.get('seed'))}, {esc(repair)}: "
        f"{figure_value('decade.lost', total)} datasets lost for good, "
        f"{figure_value('decade.lost_raw', total_raw)} of them raw.</p>\n"
        + chart(svg, ["year", "lost (to date)", "raw lost (to date)", "findings open",
                      "transfers", "irreproducible derived"],
                [(y["year"], lost[n], raw[n], y["findings"], y["transfers"],
                  y["irreproducible_derived"]) for n, y in enumerate(years)])
    )  # fmt: skip


def provenance(data: ReportData) -> str:
    if not data.lineages:
        body = "<p>No dataset chosen: <code>lifecycle report --lineage DID</code> draws its lineage.</p>\n"
    else:
        body = ""
        for n, graph in enumerate(data.lineages):
            check_size(graph)
            picture = layout(graph)
            svg = _svg_graph(svg_text(picture, standalone=False), f"lineage-{n}", graph.root)
            body += (
                f"<h3>Lineage of <code>{esc(graph.root)}</code></h3>\n"
                + "".join(f"<p>{esc(line)}</p>\n" for line in picture.caption)
                + f'<div class="graph">{svg}</div>\n'
                + "<details><summary>The numbers of this graph</summary>"
                + table(["kind/data type", "datasets", "size", "available", "deleted"],
                        [(f"{r['kind']}/{r['data_type']}" if r["data_type"] else r["kind"],
                          int(r["datasets"]), human_bytes(r["bytes"]), int(r["available"]),
                          int(r["deleted"])) for r in graph.summary])
                + "</details>\n"
            )  # fmt: skip
    return section(
        "provenance", "Provenance",
        "The lineage of the datasets chosen with --lineage, from their raw and calibration "
        "roots; details: lifecycle lineage DID.",
        body,
    )  # fmt: skip


def _svg_graph(svg: str, prefix: str, root: str) -> str:
    """A lineage SVG made unique in the page (its ids prefixed) and labelled as an image."""
    svg = re.sub(r'\bid="', f'id="{prefix}-', svg)
    svg = re.sub(r"url\(#", f"url(#{prefix}-", svg)
    label = esc(f"lineage of {root}")
    svg = re.sub(
        r"<svg\b", f'<svg role="img" aria-label="{label}" class="chart lineage"', svg, count=1
    )
    head = svg.index(">") + 1
    if not svg[head:].lstrip().startswith("<title>"):
        svg = svg[:head] + f"<title>{label}</title>" + svg[head:]
    return svg


def repair(data: ReportData) -> str:
    found = data.repair
    plan = found.plan
    states = {r.state: (int(r.transfers), int(r.bytes)) for r in found.by_state.itertuples()}
    body = "<h3>Transfers on record</h3>\n" + table(
        ["state", "transfers", "size"],
        [(state, states.get(state, (0, 0))[0], human_bytes(states.get(state, (0, 0))[1]))
         for state in ("queued", "active", "done", "failed")],
        flagged=[False, False, False, states.get("failed", (0, 0))[0] > 0],
    )  # fmt: skip
    if not found.open_by_site.empty:
        body += "<h3>Open transfers by destination site</h3>\n" + table(
            ["site", "queued", "active", "size"],
            [(r.site, int(r.queued), int(r.active), human_bytes(r.bytes))
             for r in found.open_by_site.itertuples(index=False)],
        )  # fmt: skip
    if not found.failed.empty:
        body += "<h3>Failed transfers, newest first</h3>\n" + table(
            ["dataset", "from", "to", "attempts", "failed at", "error"],
            [(r.did, r.source, r.target, int(r.attempts), moment(r.finished_at), label(r.error))
             for r in found.failed.itertuples(index=False)],
        )  # fmt: skip
    body += (
        "<h3>What repair would do now</h3>\n"
        f"<p>{counted('repair.violating', plan['violating'], 'dataset')} break a replication "
        f"or preservation rule: repair would make "
        f"{counted('repair.transfers', plan['transfers'], 'new replica')} "
        f"({esc(human_bytes(plan['bytes']))}, {esc(human_bytes(plan['bytes_staged']))} staged "
        f"from tape); {figure_value('repair.in_flight', plan['in_flight'])} wait for a copy in "
        f"flight; {figure_value('repair.unrepaired_datasets', plan['unrepaired_datasets'])} cannot be "
        f"repaired ({figure_value('repair.lost_for_good', plan['lost_for_good'])} lost for good).</p>\n"
    )
    if found.plan_by_site:
        body += table(
            ["destination site", "new replicas", "size"],
            [(site, n, human_bytes(b)) for site, n, b in found.plan_by_site],
        )
    if found.cannot:
        body += "<h3>What repair cannot do</h3>\n" + table(
            ["rule", "lost for good", "datasets", "why (an example)"],
            [(rule, "yes" if lost else "no", n, why) for rule, lost, n, why in found.cannot],
            flagged=[lost for _, lost, _, _ in found.cannot],
        )  # fmt: skip
    return section(
        "repair", "Repair",
        "The transfers on record (open, failed) and the new replicas repair would make now to "
        "restore every replication and preservation rule; details: lifecycle transfers list, "
        "lifecycle repair (a preview).",
        body,
    )  # fmt: skip


# each section and the parts of the report it reads, besides catalog, now, policies and decade
_SECTIONS: dict[str, tuple[Any, tuple[str, ...]]] = {
    "overview": (overview, ("overview", "compliance")),
    "compliance": (compliance, ("compliance",)),
    "storage": (storage, ("storage", "sites")),
    "preservation": (preservation, ("preservation",)),
    "lifetime": (lifetime, ("lifetime",)),
    "risk": (risk, ("risk",)),
    "durability": (durability, ("durability",)),
    "provenance": (provenance, ("lineages",)),
    "repair": (repair, ("repair",)),
}


def prerender(
    parts: Mapping[str, Any], catalog: str, now: Any, policies: Any, decade: Any = None
) -> dict[str, str]:
    """The sections whose parts are all in ``parts`` (those of the groups read so far, see
    :func:`lifecycle.report.data.gather`'s ``idle``), rendered ahead of the page by a core the
    reading leaves idle: the same HTML :func:`render` gives them. Measured at 1 M datasets: the
    page took 0.5-0.55 s of CPU once every part was read, all of it after the last part;
    the charts' drawing is most of it. One thread at a time draws (matplotlib's settings are
    global): the other reads."""
    known = SimpleNamespace(catalog=catalog, now=now, policies=policies, decade=decade, **parts)
    out = {}
    for name, (section, reads) in _SECTIONS.items():
        if not all(part in parts for part in reads):
            continue
        if name == "durability" and parts["durability"] is None and decade is None:
            continue  # no section
        out[name] = section(known)
    return out
