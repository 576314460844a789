"""The failure model: a TOML document of how often storage is lost for good (see
``models/durability.toml``, every number with its source).

:func:`load_model` reads and validates one; a bad document is an
:class:`~lifecycle.errors.InvalidModel` naming the file and the key (exit 2). Which file:
``--model FILE``, else ``LIFECYCLE_MODEL``, else ``./models/durability.toml``, else the model
shipped beside the package (a checkout or an editable install).
"""

from __future__ import annotations

import math
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lifecycle.errors import InvalidModel

MODEL_ENV = "LIFECYCLE_MODEL"
DEFAULT_MODEL = Path("models") / "durability.toml"
SHIPPED_MODEL = Path(__file__).resolve().parents[2] / "models" / "durability.toml"
MEDIA = ("disk", "tape")
TIERS = (0, 1, 2, 3)

# section -> key -> (kind, required); kinds: "p" probability 0..1, "pos" a number > 0,
# "nonneg" a number >= 0, "text"
_SCHEMA: dict[str, dict[str, tuple[str, bool]]] = {
    "model": {"name": ("text", True), "description": ("text", False)},
    "site_loss": {f"tier{t}": ("media", True) for t in TIERS},
    "media_loss": {m: ("p", True) for m in MEDIA},
    "country_loss": {"probability": ("p", True)},
    "operator_error": {"probability": ("p", True), "fraction": ("p", True)},
    "repair": {
        "detection_days": ("nonneg", True),
        "staging_hours": ("nonneg", True),
        "efficiency": ("p+", True),
        "window_days": ("pos", False),
    },
    "outage": {"probability_per_day": ("p", False), "days": ("pos", False)},
}


@dataclass(frozen=True)
class FailureModel:
    """The model's numbers, per year unless said otherwise (see the shipped document)."""

    name: str
    site_loss: dict[tuple[int, str], float]  # (tier, media) -> probability a year
    media_loss: dict[str, float]  # media -> fraction of bytes (files) lost a year
    country_loss: float
    operator_error: float  # per site with tape, a year
    operator_fraction: float  # of the site's tape replicas, each independently
    detection_days: float = 1.0
    staging_hours: float = 2.0
    efficiency: float = 0.5
    window_days: float | None = None  # fixed repair window (else computed from the catalog)
    outage_per_day: float = 0.0
    outage_days: float = 1.0
    source: str = ""
    description: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "source": self.source,
            "site_loss": {f"tier{t}/{m}": p for (t, m), p in sorted(self.site_loss.items())},
            "media_loss": dict(self.media_loss),
            "country_loss": self.country_loss,
            "operator_error": {
                "probability": self.operator_error,
                "fraction": self.operator_fraction,
            },
            "repair": {
                "detection_days": self.detection_days,
                "staging_hours": self.staging_hours,
                "efficiency": self.efficiency,
                "window_days": self.window_days,
            },
        }


def model_path(path: str | Path | None = None) -> tuple[Path, str]:
    """The model file to read and what named it (``--model``, the environment, the default)."""
    if path is not None:
        return Path(path), "--model"
    listed = os.environ.get(MODEL_ENV, "").strip()
    if listed:
        return Path(listed), MODEL_ENV
    if DEFAULT_MODEL.is_file():
        return DEFAULT_MODEL, "--model"
    return SHIPPED_MODEL, "--model"


def load_model(path: str | Path | None = None) -> FailureModel:
    """Read and validate the failure model at ``path`` (see :func:`model_path`)."""
    file, given_as = model_path(path)
    shown = str(file)
    try:
        document = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidModel(shown, f"no such file (from {given_as})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidModel(shown, f"cannot be read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise InvalidModel(shown, f"not valid TOML: {exc}") from None
    return model_from_document(document, shown)


def model_from_document(document: dict[str, Any], file: str = "<model>") -> FailureModel:
    """A :class:`FailureModel` from a parsed document; every key checked against the schema."""
    values: dict[str, dict[str, Any]] = {}
    for section, content in document.items():
        if section not in _SCHEMA:
            known = ", ".join(_SCHEMA)
            raise InvalidModel(file, f"unknown section (known: {known})", section)
        if not isinstance(content, dict):
            raise InvalidModel(file, "must be a table ([section])", section)
        for key in content:
            if key not in _SCHEMA[section]:
                known = ", ".join(_SCHEMA[section])
                raise InvalidModel(file, f"unknown key (known: {known})", f"{section}.{key}")
    for section, keys in _SCHEMA.items():
        content = document.get(section, {})
        values[section] = {}
        for key, (kind, required) in keys.items():
            name = f"{section}.{key}"
            if key not in content:
                if required:
                    raise InvalidModel(file, "missing", name)
                continue
            values[section][key] = _checked(file, name, kind, content[key])
    site_loss = {
        (tier, media): probability
        for tier in TIERS
        for media, probability in values["site_loss"][f"tier{tier}"].items()
    }
    repair, outage = values["repair"], values["outage"]
    return FailureModel(
        name=values["model"]["name"],
        description=values["model"].get("description", ""),
        site_loss=site_loss,
        media_loss=dict(values["media_loss"]),
        country_loss=values["country_loss"]["probability"],
        operator_error=values["operator_error"]["probability"],
        operator_fraction=values["operator_error"]["fraction"],
        detection_days=repair["detection_days"],
        staging_hours=repair["staging_hours"],
        efficiency=repair["efficiency"],
        window_days=repair.get("window_days"),
        outage_per_day=outage.get("probability_per_day", 0.0),
        outage_days=outage.get("days", 1.0),
        source=file,
    )


def _checked(file: str, name: str, kind: str, value: Any) -> Any:
    if kind == "text":
        if not isinstance(value, str) or not value.strip():
            raise InvalidModel(file, "must be a non-empty string", name)
        return value
    if kind == "media":
        if not isinstance(value, dict):
            raise InvalidModel(file, "must be a table { disk = P, tape = P }", name)
        for media in value:
            if media not in MEDIA:
                raise InvalidModel(file, "unknown media (known: disk, tape)", f"{name}.{media}")
        return {m: _checked(file, f"{name}.{m}", "p", value[m]) for m in MEDIA if m in value} | {
            m: 0.0 for m in MEDIA if m not in value
        }
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidModel(file, f"must be a number, got {value!r}", name)
    value = float(value)
    if kind == "p" and not 0 <= value <= 1:
        raise InvalidModel(file, f"must be a probability from 0 to 1, got {value:g}", name)
    if kind == "p+" and not 0 < value <= 1:
        raise InvalidModel(file, f"must be more than 0 and at most 1, got {value:g}", name)
    if kind == "pos" and not value > 0:
        raise InvalidModel(file, f"must be more than 0, got {value:g}", name)
    if kind == "nonneg" and not value >= 0:
        raise InvalidModel(file, f"must be 0 or more, got {value:g}", name)
    return value
