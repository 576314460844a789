"""The report's charts: SVG drawn by matplotlib, inline in the page.

matplotlib because it is the well-kept, ubiquitous plotting library of the scientific Python
stack, draws to SVG without a browser or JavaScript (the page reads with scripts off, offline and
by e-mail), and needs no network at view time. Text stays text (``svg.fonttype='none'``: smaller
files, readable by screen readers and searchable), the SVG carries no date, and its ids come
from a fixed salt per chart, so the same catalog gives the same bytes. Ids are prefixed with the
chart's name: several SVGs share one HTML document, whose ids must be unique.

Colours: the Okabe-Ito palette, distinguishable with the common colour-vision deficiencies.
Every chart gets ``role="img"``, a ``<title>`` and an ``aria-label`` (the page puts the table of
its numbers in a ``<details>`` beside it). matplotlib is imported here, inside the functions:
only ``lifecycle report`` pays for it.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from html import escape

# Okabe & Ito (2008), "Color Universal Design": orange, sky blue, bluish green, yellow, blue,
# vermillion, reddish purple, black
PALETTE = ("#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#000000")
TIER_COLOURS = {0: "#0072B2", 1: "#009E73", 2: "#E69F00", 3: "#CC79A7"}
FLAG_COLOUR = "#D55E00"  # over the fullness threshold
WIDTH = 8.0  # inches at 72 dpi: 576 px wide


def warm_up() -> None:
    """Import matplotlib and draw a first (small, discarded) chart: 0.9 s of CPU at the start of
    the page, spent instead on a core the report's reading leaves idle (see
    :func:`lifecycle.report.data.gather`'s ``idle``)."""
    figure = _figure(1.0)
    figure.subplots().bar([0], [1])
    _svg(figure, "warm-up", "warm-up")


def _figure(height: float):
    import matplotlib

    matplotlib.rcParams.update(
        {
            "svg.fonttype": "none",
            "font.size": 9,
            "font.family": "sans-serif",
            "axes.spines.top": False,
            "axes.spines.right": False,
        }
    )
    from matplotlib.figure import Figure

    return Figure(figsize=(WIDTH, height), dpi=72, layout="constrained")


def _svg(figure, name: str, title: str) -> str:
    """The figure as an inline ``<svg>``: no XML prolog or doctype, ids prefixed with ``name``,
    ``role="img"`` with ``title`` as its ``<title>`` and ``aria-label``."""
    import matplotlib

    out = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": f"lifecycle-report-{name}"}):
        figure.savefig(out, format="svg", metadata={"Date": None, "Creator": None})
    text = out.getvalue()
    text = text[text.index("<svg") :]
    text = re.sub(r'\bid="', f'id="{name}-', text)
    text = re.sub(r"url\(#", f"url(#{name}-", text)
    text = re.sub(r'xlink:href="#', f'xlink:href="#{name}-', text)
    safe = escape(title)
    text = re.sub(
        r"<svg\b",
        f'<svg role="img" aria-label="{safe}" class="chart" data-chart="{escape(name)}"',
        text,
        count=1,
    )
    head_end = text.index(">") + 1
    return text[:head_end] + f"<title>{safe}</title>" + text[head_end:]


def bars(
    name: str,
    title: str,
    labels: Sequence[str],
    values: Sequence[float],
    xlabel: str,
    colours: Sequence[str] | None = None,
    *,
    limit: float | None = None,
    legend: dict[str, str] | None = None,
    markers: Sequence[float | None] | None = None,
    marker_label: str | None = None,
) -> str:
    """Horizontal bars, in the order given (top to bottom); ``limit``: a dashed vertical line
    (a threshold); ``markers``: a tick per bar (capacity); ``legend``: label -> colour."""
    figure = _figure(max(1.6, 0.6 + 0.22 * len(labels)))
    axes = figure.add_subplot()
    positions = list(range(len(labels)))
    axes.barh(positions, list(values), color=list(colours or [PALETTE[4]] * len(labels)))
    axes.set_yticks(positions, [_short(label) for label in labels])
    axes.invert_yaxis()
    if markers is not None:
        points = [(v, p) for v, p in zip(markers, positions, strict=True) if v is not None]
        if points:
            axes.scatter(
                [v for v, _ in points], [p for _, p in points], marker="|", s=160,
                color="#000000", label=marker_label, zorder=3,
            )  # fmt: skip
    if limit is not None:
        axes.axvline(limit, color=FLAG_COLOUR, linestyle="--", linewidth=1)
    axes.set_xlabel(xlabel)
    if all(float(v).is_integer() for v in values) and max(values, default=0) < 20:
        _integers(axes.xaxis)
    axes.set_title(title, loc="left")
    if legend or marker_label:
        from matplotlib.patches import Patch

        handles = [Patch(color=c, label=label) for label, c in (legend or {}).items()]
        if markers is not None and marker_label:
            handles += axes.get_legend_handles_labels()[0]
        axes.legend(handles=handles, loc="lower right", fontsize=8, frameon=False)
    return _svg(figure, name, title)


def lines(
    name: str,
    title: str,
    x: Sequence[str],
    series: dict[str, Sequence[float]],
    xlabel: str,
    ylabel: str,
) -> str:
    """One line per series over the categories ``x`` (runs), each its own colour and marker."""
    figure = _figure(3.2)
    axes = figure.add_subplot()
    positions = list(range(len(x)))
    markers = "osD^vP*X"
    for n, (label, values) in enumerate(series.items()):
        axes.plot(
            positions, list(values), label=_short(label), color=PALETTE[n % len(PALETTE)],
            marker=markers[n % len(markers)], markersize=4, linewidth=1.5,
        )  # fmt: skip
    step = max(1, len(x) // 15)
    axes.set_xticks(positions[::step], list(x)[::step])
    _label(axes, title, xlabel, ylabel)
    axes.set_ylim(bottom=0)
    _integers(axes.yaxis)
    if series:
        axes.legend(fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return _svg(figure, name, title)


def stacked(
    name: str,
    title: str,
    x: Sequence[str],
    series: dict[str, Sequence[float]],
    xlabel: str,
    ylabel: str,
) -> str:
    """Vertical bars over ``x``, the series stacked."""
    figure = _figure(3.0)
    axes = figure.add_subplot()
    positions = list(range(len(x)))
    bottom = [0.0] * len(x)
    for n, (label, values) in enumerate(series.items()):
        axes.bar(positions, list(values), bottom=bottom, label=label, color=PALETTE[n % 8])
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    axes.set_xticks(positions, list(x), rotation=45, ha="right")
    _label(axes, title, xlabel, ylabel)
    if series:
        axes.legend(fontsize=8, frameon=False)
    return _svg(figure, name, title)


def _label(axes, title: str, xlabel: str, ylabel: str) -> None:
    """A chart's title (left, as every chart of the page) and its axis labels."""
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.set_title(title, loc="left")


def _integers(axis) -> None:
    """Ticks at whole numbers only (counts of datasets)."""
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=True))


def _short(label: str, width: int = 40) -> str:
    """A label as an axis shows it: at most ``width`` characters; ``$`` not taken for maths."""
    label = label if len(label) <= width else label[: width - 1] + "…"
    return label.replace("$", r"\$")
