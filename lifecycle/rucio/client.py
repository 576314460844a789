"""Reaching a Rucio server through ``rucio-clients`` (an optional extra: ``lifecycle[rucio]``).

Credentials come from the options given (:class:`RucioSettings`), else from the usual Rucio client
configuration (``RUCIO_CONFIG``, ``rucio.cfg``), which the client reads itself. They are never
printed: the settings' ``repr`` hides the password and every failure is one line of lifecycle's
own words (:func:`rucio_errors`). With a password given explicitly the client keeps its token in a
private temporary directory, removed after: a token cached from an earlier login would otherwise
let a wrong password pass unnoticed. Rucio's own logging is silenced (it would print connection
errors in colour on stderr).
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from lifecycle.errors import RucioUnavailable

INSTALL_HINT = "the Rucio bridge needs rucio-clients: pip install 'lifecycle[rucio]'"
AUTH_TYPES = ("userpass", "x509", "x509_proxy", "gss", "ssh", "saml", "oidc")


@dataclass(frozen=True)
class RucioSettings:
    """Where and as whom to reach Rucio; ``None`` fields come from the Rucio configuration."""

    url: str | None = None
    account: str | None = None
    auth_type: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    auth_url: str | None = None

    def where(self) -> str:
        """The server as a message names it."""
        return self.url or "the server of the Rucio configuration"

    def creds(self) -> dict[str, str] | None:
        if self.username is None and self.password is None:
            return None
        return {"username": self.username or "", "password": self.password or ""}


def _quiet_logger() -> logging.Logger:
    logger = logging.getLogger("lifecycle.rucio.client")
    logger.propagate = False
    if not logger.handlers:
        logger.addHandler(logging.NullHandler())
    return logger


@contextmanager
def rucio_errors(settings: RucioSettings, doing: str = "") -> Iterator[None]:
    """Rucio's exceptions and connection failures as one-line :class:`RucioUnavailable`."""
    try:
        yield
    except RucioUnavailable:
        raise
    except Exception as exc:
        raise RucioUnavailable(_message(exc, settings, doing)) from None


def _message(exc: Exception, settings: RucioSettings, doing: str) -> str:
    name = type(exc).__name__
    where = settings.where()
    what = f" ({doing})" if doing else ""
    if name == "CannotAuthenticate":
        return (
            f"Rucio at {where}: cannot authenticate account {settings.account or '(configured)'} "
            f"({settings.auth_type or 'configured auth'}): check the credentials"
        )
    if name in ("ServerConnectionException", "ConnectionError", "ConnectTimeout"):
        return f"cannot reach Rucio at {where}: is the server running and the URL right?"
    if name in ("MissingClientParameter", "ConfigNotFound", "NoAuthInformation"):
        return (
            f"Rucio: no server or credentials configured ({name}): give --url and --account, "
            "or set RUCIO_CONFIG to a rucio.cfg"
        )
    text = str(exc).strip().splitlines()
    detail = next((t for t in reversed(text) if t.strip()), name)
    if settings.password:
        detail = detail.replace(settings.password, "***")
    return f"Rucio at {where} refused a request{what}: {detail.removeprefix('Details: ')}"


@contextmanager
def connect(settings: RucioSettings) -> Iterator[Any]:
    """A logged-in ``rucio.client.Client`` (see the module), closed after. Its
    ``lifecycle_clone()`` makes another one (for another thread) reading the same token."""
    try:
        from rucio.client import Client
    except ImportError:
        raise RucioUnavailable(INSTALL_HINT) from None
    if settings.auth_type is not None and settings.auth_type not in AUTH_TYPES:
        raise RucioUnavailable(f"--auth: {settings.auth_type!r} is not one of {AUTH_TYPES}")
    private = tempfile.mkdtemp(prefix="lifecycle-rucio-") if settings.password else None

    class _Client(Client):  # tokens of an explicit password in a private directory
        if private is not None:
            TOKEN_PATH_PREFIX = private + "/"

    def make() -> Any:
        return _Client(
            rucio_host=settings.url,
            auth_host=settings.auth_url or settings.url,
            account=settings.account,
            auth_type=settings.auth_type,
            creds=settings.creds(),
            logger=_quiet_logger(),
        )

    try:
        with rucio_errors(settings, "login"):
            client = make()
            client.whoami()
        client.lifecycle_clone = make  # another client on the same token: no second login
        yield client
    finally:
        if private is not None:
            shutil.rmtree(private, ignore_errors=True)
