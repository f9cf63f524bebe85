"""BandmateProfileEQ's engine: the matching engine with its target from a named profile.

The profile is chosen by name (spec string ``profile``, stored in the plugin state; the shell
sends it in a CONFIGURE message, ``SessionTable`` calls ``configure``): a file in the user's
profile folder or a built-in curve (``bandmate.profiles``). The ``Built-in profile`` parameter
(0 = the saved name, 1.. = ``BUILTIN_TILTS`` in order) overrides it with a built-in, so hosts
without a plugin UI can switch and automate the built-ins. Its median spectrum is the target,
half its spread a per-frequency tolerance band left uncorrected. An unknown or corrupt profile
keeps the plugin running neutral (correction filter at 0 dB, meters 0, ``Profile found`` 0) and
logs the error once per name.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np

from bandmate.engines.base import EngineConfig
from bandmate.engines.matching import MatchingEngine
from bandmate.profiles import BUILTIN_TILTS, Profile, builtin_profile, find_profile

log = logging.getLogger("bandmate.backend")


class ProfileEQEngine(MatchingEngine):
    name = "profile_eq"

    def __init__(self, config: EngineConfig, profile_folder: str | None = None):
        super().__init__(config)
        self.profile_folder = profile_folder  # None: bandmate.paths.profile_dir() at configure time
        self.saved_name = self.spec.string_defaults()["profile"]  # the plugin state's choice
        self.slot = int(round(self.activation_params.get("builtin", 0.0)))  # Built-in profile parameter
        self.profile_name: str | None = None  # the profile in use (or tried)
        self._by_slot = False
        self.profile: Profile | None = None
        self._select()

    def configure(self, strings: Mapping[str, str]) -> None:
        """Apply the plugin's string state (only ``profile`` is used; unchanged names are no-ops)."""
        if "profile" in strings:
            self.saved_name = strings["profile"]
            self._select()

    def _select(self) -> None:
        builtins = list(BUILTIN_TILTS)
        slot = 0 < self.slot <= len(builtins)
        name = builtins[self.slot - 1] if slot else self.saved_name
        if (name, slot) == (self.profile_name, self._by_slot):
            return
        self.profile_name, self._by_slot = name, slot
        try:  # the parameter picks a built-in even where a user file has its name
            self.profile = builtin_profile(name) if slot else find_profile(name, self.profile_folder)
        except (FileNotFoundError, ValueError) as e:
            log.error("Profile EQ: %s; running neutral until another profile is chosen", e)
            self.profile = None
        if self.profile is None:
            self.set_target(None)
        else:
            median, tol = self.profile.on_grid(self.core.grid, self.core.weights)
            self.core.set_target(median, tolerance_db=tol)

    def process(self, audio: np.ndarray, params: Mapping[str, float]) -> tuple[np.ndarray, dict[str, float]]:
        slot = int(round(params.get("builtin", 0.0)))
        if slot != self.slot:
            self.slot = slot
            self._select()
        out, meters = self.core.process(audio, dict(params) | {"mid_side": 0.0})
        return out, meters | {"profile_found": float(self.profile is not None)}
