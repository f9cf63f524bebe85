"""Per-user locations (the same rules as cpp_shim/BackendSpawner.cpp)."""

from __future__ import annotations

import os
from pathlib import Path


def runtime_dir() -> Path:
    """Private (0700) directory for the backend socket and locks."""
    if d := os.environ.get("BANDMATE_RUNTIME_DIR"):
        path = Path(d)
    elif x := os.environ.get("XDG_RUNTIME_DIR"):
        path = Path(x) / "bandmate"
    else:
        path = Path(f"/tmp/bandmate-{os.getuid()}")
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o700)
    return path


def state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    path = Path(base) / "bandmate"
    path.mkdir(parents=True, exist_ok=True)
    return path


def backend_setting(key: str) -> str:
    """``key = value`` from ``$XDG_CONFIG_HOME/bandmate/backend.conf`` (default
    ``~/.config/...``), the file the plugins read too; "" when absent."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    try:
        lines = (Path(base) / "bandmate" / "backend.conf").read_text().splitlines()
    except OSError:
        return ""
    for line in lines:
        name, eq, value = line.partition("=")
        if eq and name.strip() == key:
            return value.strip()
    return ""


def capture_dir() -> Path:
    """Where generated MIDI is captured: the XDG music dir / Bandmate."""
    music = os.environ.get("XDG_MUSIC_DIR") or str(Path.home() / "Music")
    path = Path(music) / "Bandmate"
    path.mkdir(parents=True, exist_ok=True)
    return path


def profile_dir(create: bool = False) -> Path:
    """The user's Profile EQ profiles: ``$XDG_CONFIG_HOME/bandmate/profiles`` (default
    ``~/.config/bandmate/profiles``); one ``<name>.json`` per profile (bandmate.profiles)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    path = Path(base) / "bandmate" / "profiles"
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path


def find_plugin(name: str, fmt: str = "vst3", prefer_build: bool = False) -> Path:
    """A plugin file from a name (``BandmateReference``, ``Reference``) or a path.

    Looks in ``~/.vst3`` / ``~/.clap`` (where scripts/setup.sh installs) and in the source
    tree's ``build/bin``; ``prefer_build`` searches the build tree first (tests).
    """
    path = Path(name)
    if path.suffix in (".vst3", ".clap"):
        if path.exists():
            return path
        raise FileNotFoundError(f"no plugin at {path}")
    stem = name if name.startswith("Bandmate") else f"Bandmate{name}"
    dirs = [Path.home() / f".{fmt}", Path(__file__).resolve().parents[2] / "build" / "bin"]
    for base in reversed(dirs) if prefer_build else dirs:
        if (base / f"{stem}.{fmt}").exists():
            return base / f"{stem}.{fmt}"
    raise FileNotFoundError(f"{stem}.{fmt} is not installed: run scripts/setup.sh")
