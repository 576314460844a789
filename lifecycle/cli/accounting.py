"""``lifecycle endpoints usage`` and ``lifecycle sites usage``: storage accounting.

Mirrors :mod:`lifecycle.accounting` through the ``Catalog`` facade; the commands join the
``endpoints`` and ``sites`` groups of :mod:`lifecycle.cli.catalog`. Both give the same report,
grouped by default per endpoint or per site.
"""

from __future__ import annotations

from enum import StrEnum
from functools import partial
from typing import IO, TYPE_CHECKING, Annotated

import typer

from lifecycle.cli import options
from lifecycle.cli.catalog import endpoints_app, sites_app
from lifecycle.output import Report, write_table
from lifecycle.text import human_bytes

if TYPE_CHECKING:
    import pandas as pd

    from lifecycle.api import Usage

GROUPS_ON_SCREEN = 100
SHARES_ON_SCREEN = 200


class By(StrEnum):
    endpoint = "endpoint"
    site = "site"
    tier = "tier"
    country = "country"
    cloud = "cloud"


SitesOption = Annotated[
    list[str] | None, typer.Option("--site", metavar="SITE", help="Only this site (repeatable).")
]
MediaOption = Annotated[
    str | None, typer.Option("--media", metavar="MEDIA", help="Only tape or disk endpoints.")
]
ExpressionOption = Annotated[
    str | None,
    typer.Option(
        "--expression",
        "-e",
        metavar="EXPRESSION",
        help="Only the endpoints of a Rucio-style expression, e.g. 'tier<2&media=tape'.",
    ),
]
SharesOption = Annotated[
    bool,
    typer.Option(
        "--shares",
        help="Per group, the share of each kind and data type (csv and parquet write these "
        "rows instead of the totals).",
    ),
]


def _usage(
    ctx: typer.Context,
    by: By,
    site: list[str] | None,
    media: str | None,
    expression: str | None,
    shares: bool,
    fmt: options.ListingFormat,
) -> None:
    found = options.catalog(ctx).usage(by.value, site=site, media=media, expression=expression)
    people = partial(_for_people, found, shares)
    rows = found.shares if shares else found.usage
    # json: thousands of share rows (groups x media x data types), one compact line each
    report = Report(rows, document=found.to_dict, people=people, compact_entries=True)
    options.emit(report, fmt)


@endpoints_app.command("usage")
def endpoints_usage(
    ctx: typer.Context,
    by: Annotated[
        By, typer.Option("--by", help="Group by endpoint, site, tier, country or cloud.")
    ] = By.endpoint,
    site: SitesOption = None,
    media: MediaOption = None,
    expression: ExpressionOption = None,
    shares: SharesOption = False,
    fmt: options.FormatOption = options.ListingFormat.table,
) -> None:
    """Storage used (available replicas), capacity and free, per endpoint and media, with the
    share of each kind and data type."""
    _usage(ctx, by, site, media, expression, shares, fmt)


@sites_app.command("usage")
def sites_usage(
    ctx: typer.Context,
    by: Annotated[
        By, typer.Option("--by", help="Group by endpoint, site, tier, country or cloud.")
    ] = By.site,
    site: SitesOption = None,
    media: MediaOption = None,
    expression: ExpressionOption = None,
    shares: SharesOption = False,
    fmt: options.FormatOption = options.ListingFormat.table,
) -> None:
    """Storage used (available replicas), capacity and free, per site and media (a pledge
    report's numbers), with the share of each kind and data type."""
    _usage(ctx, by, site, media, expression, shares, fmt)


def _for_people(found: Usage, shares: bool, out: IO[str]) -> None:
    """Totals per media first, then the share of each kind and data type (of the whole
    selection, or per group with ``--shares``), then the groups."""
    summary = found.summary
    for media, totals in summary["media"].items():
        options.line(out, f"{media}: {_totals(totals)}")
    if shares:
        options.bounded_table(
            _percent(found.shares, "share"),
            out,
            f"share of each kind and data type, by {found.by}",
            SHARES_ON_SCREEN,
        )
    else:
        write_table(
            _percent(found.overall_shares(), "share"), out, "share of each kind and data type"
        )
    shown = _percent(found.usage, "used_fraction").rename(columns={"used_fraction": "used"})
    if found.by == "endpoint":  # one endpoint a row
        shown = shown.drop(columns="endpoints")
    if not shown["endpoints_without_capacity"].any():
        shown = shown.drop(columns="endpoints_without_capacity")
    options.bounded_table(shown, out, f"usage by {found.by}", GROUPS_ON_SCREEN)


def _totals(totals: dict) -> str:
    endpoints, missing = totals["endpoints"], totals["endpoints_without_capacity"]
    text = f"{human_bytes(totals['used_bytes'])} used"
    if totals["capacity_bytes"] is not None:
        text += (
            f" of {human_bytes(totals['capacity_bytes'])} ({totals['used_fraction']:.2%}), "
            f"{human_bytes(totals['free_bytes'])} free"
        )
    text += f"; {options.count(totals['replicas'], 'replica')} on "
    text += options.count(endpoints, "endpoint")
    if missing:
        text += f" ({missing:,} without a recorded capacity, not in capacity or free)"
    return text


def _percent(found: pd.DataFrame, column: str) -> pd.DataFrame:
    """``found`` with the fractions of ``column`` shown as percentages (for a table)."""
    shown = found.copy()
    shown[column] = [None if v is None or v != v else f"{v:.2%}" for v in shown[column]]
    return shown
