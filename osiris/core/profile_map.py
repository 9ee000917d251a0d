"""One rule for the profile labels other Osiris versions wrote (`compat.legacy_profiles`).

The old tool writes `default` (or null) when no profile was asked for, and upstream 0.5.x
accepted any name. Every reader, the runner and the migrator turn such a label into a
contract profile here, and nowhere else: `compat.legacy_profiles` maps a label to a profile;
`default` and null map to `compat.legacy_profiles.default`, else to
`filesystem.profiles.default`; any other label is taken as the profile of that name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from osiris.core.config_model import OsirisConfig

LEGACY_DEFAULT = "default"
CONFIG_KEY = "compat.legacy_profiles"


@dataclass(frozen=True)
class ProfileMap:
    """Maps a profile label written by another Osiris version to a contract profile."""

    enabled: bool
    values: tuple[str, ...]
    default: str | None
    labels: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: OsirisConfig) -> ProfileMap:
        profiles = config.filesystem.profiles
        return cls(
            enabled=profiles.enabled,
            values=tuple(profiles.values),
            default=profiles.default if profiles.enabled else None,
            labels=dict(config.compat.legacy_profiles),
        )

    def contract(self, label: str | None) -> str | None:
        """The contract profile of `label` (None when profiles are off)."""
        if not self.enabled:
            return None
        key = label.strip() if isinstance(label, str) and label.strip() else LEGACY_DEFAULT
        if key in self.labels:
            return self.labels[key]
        return self.default if key == LEGACY_DEFAULT else key

    def problem(self, label: str | None) -> str | None:
        """Why `label` has no contract profile (it maps to a name that is not allowed)."""
        chosen = self.contract(label)
        if chosen is None or chosen in self.values:
            return None
        return (
            f"profile '{label}' is not one of {', '.join(self.values)}: map it with "
            f"{CONFIG_KEY}.{label}: <profile> in osiris.yaml"
        )

    def describe(self) -> str:
        """The mapping in one line, as `osiris migrate plan` shows it."""
        if not self.enabled:
            return "profiles are off: legacy profiles are dropped"
        shown = {f"{LEGACY_DEFAULT} (or none)": self.contract(None)}
        shown.update((k, v) for k, v in self.labels.items() if k != LEGACY_DEFAULT)
        pairs = ", ".join(f"{label} -> {profile}" for label, profile in shown.items())
        return f"{pairs}, any other name -> the profile of that name ({CONFIG_KEY})"
