"""Offline music sources (Debian packages): MMA grooves, openttd-openmsx songs, Freedoom WAD music."""

from __future__ import annotations

import hashlib
import re
import shutil
import struct
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MMA_LIB = Path("/usr/share/mma/lib")
OPENMSX_DIR = Path("/usr/share/games/openttd/baseset/openmsx")
FREEDOOM_WADS = [Path("/usr/share/games/doom/freedoom1.wad"), Path("/usr/share/games/doom/freedoom2.wad")]
SOUNDFONTS = {
    "FluidR3_GM": Path("/usr/share/sounds/sf2/FluidR3_GM.sf2"),
    "MuseScore_General": Path("/usr/share/sounds/sf3/MuseScore_General.sf3"),
}
LICENCES = {
    "mma": "GPL-2+ (MMA style library, Debian package mma)",
    "openmsx": "GPL-2 (OpenMSX music set, Debian package openttd-openmsx)",
    "freedoom": "BSD-3-clause-style (Freedoom, Debian package freedoom)",
    "FluidR3_GM": "MIT (Debian package fluid-soundfont-gm)",
    "MuseScore_General": "MIT (Debian package musescore-general-soundfont)",
}
# Debian package -> a path it installs (or a command it provides)
REQUIRED = {
    "mma": "cmd:mma",
    "fluidsynth": "cmd:fluidsynth",
    "openttd-openmsx": str(OPENMSX_DIR),
    "freedoom": str(FREEDOOM_WADS[0]),
    "fluid-soundfont-gm": str(SOUNDFONTS["FluidR3_GM"]),
    "musescore-general-soundfont": str(SOUNDFONTS["MuseScore_General"]),
}


def require_packages() -> None:
    """Exit with the apt-get command for whatever of REQUIRED is not installed."""
    if missing := missing_packages():
        pkgs = " ".join(missing)
        raise SystemExit(f"missing Debian packages: {pkgs}\n  install them with: apt-get install {pkgs}")


def missing_packages() -> list[str]:
    out = []
    for pkg, what in REQUIRED.items():
        ok = shutil.which(what[4:]) is not None if what.startswith("cmd:") else Path(what).exists()
        if not ok:
            out.append(pkg)
    return out


@dataclass
class Song:
    id: str
    source: str  # mma | openmsx | freedoom
    origin: str  # file / lump / groove the MIDI came from
    midi: bytes | None = None
    mma_text: str | None = None


# ------------------------------------------------------------------------ MMA
PROGRESSIONS = [
    "C Am F G C Am F G",
    "C F C G C F G C",
    "Am Dm G C F Dm E7 Am",
    "C C7 F Fm C A7 Dm7 G7",
    "C7 F7 C7 C7 F7 F7 C7 G7",
    "Dm7 G7 Cmaj7 Cmaj7 Em7 A7 Dm7 G7",
    "Em C G D Em C G D",
    "C G Am Em F C F G",
]
_SKIP_GROOVE = re.compile(r"(end|ending|intro)\d*$", re.I)


def mma_grooves() -> list[tuple[str, str]]:
    """(style file relative to the MMA lib, groove name) for every DefGroove, intros/endings skipped."""
    out = []
    for f in sorted(MMA_LIB.rglob("*.mma")):
        for line in f.read_text(errors="replace").splitlines():
            m = re.match(r"\s*defgroove\s+(\S+)", line, re.I)
            if m and not _SKIP_GROOVE.search(m.group(1)):
                out.append((str(f.relative_to(MMA_LIB)), m.group(1)))
    return sorted(set(out))


def mma_song(style: str, groove: str, rng: np.random.Generator, bars: int = 8) -> str:
    tempo = int(rng.integers(76, 151))
    transpose = int(rng.integers(-5, 7))
    chords = PROGRESSIONS[int(rng.integers(len(PROGRESSIONS)))].split()
    lines = [f"Tempo {tempo}", f"Transpose {transpose}", f"Use {MMA_LIB / style}", f"Groove {groove}"]
    lines += [f"{i + 1} {chords[i % len(chords)]}" for i in range(bars)]
    return "\n".join(lines) + "\n"


def render_mma(text: str) -> bytes:
    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "s.mma").write_text(text)
        r = subprocess.run(["mma", "s.mma", "-f", "s.mid"], cwd=d, capture_output=True, text=True, timeout=60)
        out = Path(d) / "s.mid"
        if r.returncode or not out.exists():
            raise RuntimeError(f"mma failed: {r.stdout[-300:]} {r.stderr[-300:]}")
        return out.read_bytes()


# ------------------------------------------------------------------ real songs
def openmsx_songs() -> list[Song]:
    return [Song(f"openmsx/{p.stem}", "openmsx", str(p), p.read_bytes()) for p in sorted(OPENMSX_DIR.glob("*.mid"))]


def wad_music(path: Path) -> list[tuple[str, bytes]]:
    """(lump name, MIDI bytes) of the D_* lumps of a WAD stored as MIDI (MUS lumps are skipped)."""
    data = path.read_bytes()
    if data[:4] not in (b"IWAD", b"PWAD"):
        raise ValueError(f"{path}: not a WAD")
    n, off = struct.unpack("<ii", data[4:12])
    out = []
    for i in range(n):
        pos, size, name = struct.unpack("<ii8s", data[off + 16 * i : off + 16 * i + 16])
        name = name.rstrip(b"\0").decode("ascii", "replace")
        lump = data[pos : pos + size]
        if name.startswith("D_") and lump[:4] == b"MThd":
            out.append((name, lump))
    return out


def freedoom_songs() -> list[Song]:
    seen, out = set(), []
    for wad in FREEDOOM_WADS:
        for name, lump in wad_music(wad):
            h = hashlib.sha1(lump).hexdigest()
            if h not in seen:  # both WADs share tracks: keep each tune once
                seen.add(h)
                out.append(Song(f"freedoom/{wad.stem}_{name}", "freedoom", f"{wad}:{name}", lump))
    return out
