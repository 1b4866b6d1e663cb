"""Run profiles: one notebook, three sizes.

`smoke` runs each notebook in seconds (CI), `cpu` in at most about 10 minutes on two laptop cores,
`gpu` at the book's scale. The profile comes from the ``COURSE_PROFILE`` environment variable, or
from `use_profile` inside a notebook; without either it is ``gpu`` when TensorFlow sees a GPU and
``cpu`` otherwise.

A notebook picks its sizes in one table::

    cfg = profiles.sizes(
        smoke=dict(epochs=1, batch_size=16, seq_len=20, data_fraction=0.02),
        cpu=dict(epochs=10, batch_size=64, seq_len=100, data_fraction=0.3),
        gpu=dict(epochs=50, batch_size=128, seq_len=100, data_fraction=1.0),
    )
    cfg.epochs
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

PROFILES = ("smoke", "cpu", "gpu")
ENV_VAR = "COURSE_PROFILE"

_override: str | None = None


def _check(name: str, source: str) -> str:
    name = name.strip().lower()
    if name not in PROFILES:
        raise ValueError(
            f"Unknown run profile {name!r} (from {source}); choose one of {', '.join(PROFILES)}."
        )
    return name


def gpu_available() -> bool:
    """True when TensorFlow sees at least one GPU (imports TensorFlow)."""
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def active_profile(detect_gpu: Callable[[], bool] = gpu_available) -> str:
    """The profile in force: `use_profile`, else ``$COURSE_PROFILE``, else gpu/cpu by hardware."""
    if _override is not None:
        return _override
    from_env = os.environ.get(ENV_VAR, "").strip()
    if from_env:
        return _check(from_env, f"${ENV_VAR}")
    return "gpu" if detect_gpu() else "cpu"


def use_profile(name: str | None) -> str | None:
    """Override the profile for this Python process (a notebook); ``None`` removes the override."""
    global _override
    _override = None if name is None else _check(name, "use_profile()")
    return _override


class Sizes(Mapping):
    """The sizes of the active profile, read as attributes (``cfg.epochs``) or keys."""

    def __init__(self, profile: str, values: Mapping[str, Any]):
        self._profile = profile
        self._values = MappingProxyType(dict(values))

    @property
    def profile(self) -> str:
        return self._profile

    def __getattr__(self, key: str) -> Any:
        if key.startswith("_"):
            raise AttributeError(key)
        try:
            return self._values[key]
        except KeyError:
            raise AttributeError(
                f"No size {key!r} in this table; it has {', '.join(self._values)}."
            ) from None

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __iter__(self):
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self._values.items())
        return f"Sizes[{self._profile}]({inner})"


def _validate_table(table: Mapping[str, Mapping[str, Any]]) -> None:
    missing = [p for p in PROFILES if p not in table]
    unknown = [p for p in table if p not in PROFILES]
    if missing or unknown:
        raise ValueError(
            f"A sizes table needs exactly the profiles {', '.join(PROFILES)}; "
            f"missing: {missing or 'none'}, unknown: {unknown or 'none'}."
        )
    keys = {p: set(table[p]) for p in PROFILES}
    reference = keys["cpu"]
    for p in PROFILES:
        if keys[p] != reference:
            raise ValueError(
                f"Profile {p!r} names sizes {sorted(keys[p])} but 'cpu' names {sorted(reference)}: "
                "every profile must set the same sizes."
            )


def sizes(
    *,
    smoke: Mapping[str, Any],
    cpu: Mapping[str, Any],
    gpu: Mapping[str, Any],
    profile: str | None = None,
) -> Sizes:
    """Pick one row of a per-profile size table (the active profile unless ``profile`` is given)."""
    table = {"smoke": smoke, "cpu": cpu, "gpu": gpu}
    _validate_table(table)
    name = active_profile() if profile is None else _check(profile, "sizes(profile=...)")
    return Sizes(name, table[name])


def pick(*, smoke: Any, cpu: Any, gpu: Any, profile: str | None = None) -> Any:
    """One value per profile, for a single size: ``pick(smoke=1, cpu=10, gpu=50)``."""
    name = active_profile() if profile is None else _check(profile, "pick(profile=...)")
    return {"smoke": smoke, "cpu": cpu, "gpu": gpu}[name]
