"""``lifecycle rucio pull|sync|push``: the Rucio bridge.

Mirrors :mod:`lifecycle.rucio` through the facade (``lifecycle.api``).
"""

from __future__ import annotations

import sys
from functools import partial
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated, Any

import typer

from lifecycle.cli import options
from lifecycle.output import Report, write_table

if TYPE_CHECKING:
    from lifecycle.api import PullOptions, PushResult, RucioSettings, RucioSync

rucio_app = typer.Typer(
    help="The Rucio bridge: pull a Rucio server's state, push repairs back as rules.",
    no_args_is_help=True,
)

Url = Annotated[
    str | None,
    typer.Option("--url", help="The Rucio server (default: rucio_host of the Rucio config)."),
]
Account = Annotated[
    str | None, typer.Option("--account", help="Rucio account (default: the Rucio config's).")
]
Auth = Annotated[
    str | None,
    typer.Option("--auth", help="Auth type: userpass, x509, x509_proxy, gss, ssh, saml, oidc "
                 "(default: the Rucio config's)."),
]  # fmt: skip
Username = Annotated[str | None, typer.Option("--username", help="userpass: the identity.")]
Password = Annotated[
    str | None,
    typer.Option(
        "--password",
        envvar="LIFECYCLE_RUCIO_PASSWORD",
        show_envvar=True,
        help="userpass: the password (better in the environment; never printed).",
        show_default=False,
    ),
]
Scopes = Annotated[
    list[str] | None,
    typer.Option("--scope", help="Pull the datasets of this scope (repeatable; default: all).",
                 show_default=False),
]  # fmt: skip
Rses = Annotated[
    str | None,
    typer.Option("--rses", metavar="EXPR", help="Pull the RSEs of this Rucio expression "
                 "(default: all)."),
]  # fmt: skip
Kinds = Annotated[
    list[str] | None,
    typer.Option("--kind", metavar="DATATYPE=KIND|scope:GLOB=KIND",
                 help="Kind of the datasets of a data type or scope (globs; repeatable; before "
                 "the defaults: RAW=raw, scope:mc*=simulated, *CALIB*=calibration, "
                 "the rest derived).", show_default=False),
]  # fmt: skip
SiteAttribute = Annotated[str, typer.Option(help="The RSE attribute naming its site.")]
TierAttribute = Annotated[str, typer.Option(help="The RSE attribute giving its site's tier.")]
CountryAttribute = Annotated[str, typer.Option(help="The RSE attribute giving the country.")]
CloudAttribute = Annotated[str, typer.Option(help="The RSE attribute giving the cloud.")]
Replicas = Annotated[
    str,
    typer.Option("--replicas", help="deep: each dataset's replicas from its files (exact "
                 "without Rucio's daemons, one request per dataset); bulk: Rucio's summary "
                 "(exact once abacus-collection-replica has run); auto: the summary where it "
                 "shows a dataset complete, deep for the rest."),
]  # fmt: skip
Workers = Annotated[
    int, typer.Option(min=1, max=32, help="Concurrent requests for the deep replica listing.")
]
Output = Annotated[
    Path, typer.Option("--output-dir", "-o", help="The snapshot directory to write.")
]
Snapshot = Annotated[
    Path | None,
    typer.Option("--snapshot", metavar="DIR", help="Keep the snapshot in DIR (default: a "
                 "temporary directory, removed after)."),
]  # fmt: skip


def _settings(url, account, auth, username, password) -> RucioSettings:
    return options.api().RucioSettings(url, account, auth, username, password)


def _pull_options(scope, rses, kind, site_attr, tier_attr, country_attr, cloud_attr, replicas,
                  workers) -> PullOptions:  # fmt: skip
    api = options.api()
    mapping = api.Mapping(site_attr, tier_attr, country_attr, cloud_attr,
                          api.KindRules.parse(kind or []))  # fmt: skip
    return api.PullOptions(tuple(scope or ()), rses, mapping, replicas, workers=workers)


@rucio_app.command("pull")
def pull(
    output_dir: Output,
    url: Url = None,
    account: Account = None,
    auth: Auth = None,
    username: Username = None,
    password: Password = None,
    scope: Scopes = None,
    rses: Rses = None,
    kind: Kinds = None,
    site_attribute: SiteAttribute = "site",
    tier_attribute: TierAttribute = "tier",
    country_attribute: CountryAttribute = "country",
    cloud_attribute: CloudAttribute = "cloud",
    replicas: Replicas = "auto",
    workers: Workers = 4,
) -> None:
    """Write a snapshot of a Rucio server in the exchange format (for 'lifecycle sync').

    RSEs become endpoints (and sites), datasets of the scopes their datasets with metadata,
    dataset replicas replicas, replication rules rules.jsonl. Credentials: the options, else
    RUCIO_CONFIG / rucio.cfg.
    """
    settings = _settings(url, account, auth, username, password)
    found = options.api().rucio_pull(
        settings, output_dir, _pull_options(scope, rses, kind, site_attribute, tier_attribute,
                                            country_attribute, cloud_attribute, replicas, workers)
    )  # fmt: skip
    typer.echo(found.summary_line())


@rucio_app.command("sync")
def sync(
    ctx: typer.Context,
    snapshot: Snapshot = None,
    url: Url = None,
    account: Account = None,
    auth: Auth = None,
    username: Username = None,
    password: Password = None,
    scope: Scopes = None,
    rses: Rses = None,
    kind: Kinds = None,
    site_attribute: SiteAttribute = "site",
    tier_attribute: TierAttribute = "tier",
    country_attribute: CountryAttribute = "country",
    cloud_attribute: CloudAttribute = "cloud",
    replicas: Replicas = "auto",
    workers: Workers = 4,
    complete: Annotated[
        list[str] | None,
        typer.Option(
            "--complete",
            help="As 'sync --complete' (default: every replica of the "
            "RSEs pulled; with every RSE pulled, every dataset of the scopes pulled).",
        ),
    ] = None,  # fmt: skip
    max_change: Annotated[
        float,
        typer.Option(
            "--max-change",
            help="Refuse when more than this per cent of an "
            "endpoint's replicas would change state or disappear.",
        ),
    ] = 10.0,  # fmt: skip
    force: Annotated[bool, typer.Option("--force", help="Go past --max-change.")] = False,
    reason: Annotated[str | None, typer.Option("--reason", help="Why (journaled).")] = None,
    apply: options.ApplyOption = False,
    fmt: options.DetailFormatOption = options.DetailFormat.table,
) -> None:
    """Pull a Rucio server, then sync the catalog with it and record its rules.

    'rucio pull' then 'sync DIR --complete replicas:<the RSEs pulled>', then the rules. Without --apply, shows
    what would change. Exit 1 when a change leaves data lost for good.
    """
    settings = _settings(url, account, auth, username, password)
    pulled = _pull_options(scope, rses, kind, site_attribute, tier_attribute, country_attribute,
                           cloud_attribute, replicas, workers)  # fmt: skip
    found = options.catalog(ctx).rucio_sync(
        settings, snapshot, pulled, complete=complete, max_change=max_change, force=force,
        apply=apply, reason=reason,
    )  # fmt: skip
    options.emit(Report(found.sync.records(), document=found.to_dict,
                        people=partial(_synced, found)), fmt)  # fmt: skip
    if found.sync.loses_data:
        sys.stdout.flush()
        raise typer.Exit(1)


@rucio_app.command("push")
def push(
    ctx: typer.Context,
    plan: Annotated[
        str,
        typer.Argument(
            help="'repair --format rucio' output or a saved 'repair --format "
            "json' plan ('-': standard input)."
        ),
    ],  # fmt: skip
    url: Url = None,
    account: Account = None,
    auth: Auth = None,
    username: Username = None,
    password: Password = None,
    apply: options.ApplyOption = False,
    fmt: options.DetailFormatOption = options.DetailFormat.table,
) -> None:
    """Make a repair plan's rules on Rucio: preview; --apply creates them (journaled).

    A rule already there (same DID and RSE expression) is not made again. Exit 1 when Rucio
    refused a rule.
    """
    settings = _settings(url, account, auth, username, password)
    found = options.catalog(ctx).rucio_push(settings, plan, apply=apply)
    options.emit(Report(found.records(), document=found.to_dict,
                        people=partial(_pushed, found)), fmt)  # fmt: skip
    if found.failed:
        sys.stdout.flush()
        raise typer.Exit(1)


def _lines(texts: list[str], out: IO[str]) -> None:
    for text in texts:
        options.line(out, text)


def _synced(found: RucioSync, out: IO[str]) -> None:
    _lines(found.lines(), out)
    if not found.sync.applied and found.sync.changed:
        options.note("dry run: nothing changed; run again with --apply to sync")


def _pushed(found: PushResult, out: IO[str]) -> None:
    options.line(out, found.summary_line())
    rows: list[dict[str, Any]] = [
        {k: r[k] for k in ("did", "copies", "rse_expression", "source_replica_expression",
                           "status", "rule_id")} | {"repairs": ", ".join(r["findings"])}
        for r in found.rules
    ]  # fmt: skip
    if rows:
        import pandas as pd

        write_table(pd.DataFrame(rows), out, "rules")
    for rule in found.rules:
        if rule["error"]:
            options.line(out, f"{rule['did']}: {rule['error']}")
    if not found.applied and found.counts()["new"]:
        options.note("a preview: nothing was created; --apply creates the new rules")


GROUPS = {"rucio": rucio_app}
