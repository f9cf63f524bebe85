"""Tonal-balance profiles for Profile EQ: capture, load, built-ins, compare.

A profile is a long-term spectrum to match toward: on the 48 kHz log grid of
``engines/spectrum.py`` (1/24 octave, 20 Hz .. 20 kHz), the per-point **median** over its source
files of their gated, loudness-normalised long-term spectra (dB, the normalisation
``LongTermSpectrum`` uses) and the **spread** (inter-quartile range, dB; 0 with fewer than 2
files). Profile EQ corrects only what lies outside median +- spread / 2.

File format (JSON, ``<name>.json``)::

    {"format": "bandmate-profile", "version": 1, "name": "...", "files": 12,
     "grid_hz": [...], "median_db": [...], "spread_db": [...]}

User profiles live in ``bandmate.paths.profile_dir()`` ($XDG_CONFIG_HOME/bandmate/profiles,
default ~/.config/bandmate/profiles). Built-in curves (``BUILTIN_TILTS``) are formulas, not
measurements: pink noise (equal power per octave, a -3 dB/oct power density, the usual reference
slope for the long-term spectrum of mixed music) and pink tilted by -+1 dB/oct around 1 kHz
("Warm", "Bright": -+3.3 dB at 100 Hz / 10 kHz), all through a 2nd-order 40 Hz high-pass so the
sub-bass below the range of most music is not boosted. A user profile of the same name wins.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bandmate.engines.matching import DEFAULTS, METER_EDGES_HZ, METER_IDS, band_deviation_db, match_curve
from bandmate.engines.spectrum import LongTermSpectrum, grid_weights, log_grid, loudness_normalise

FORMAT = "bandmate-profile"
VERSION = 1
PROFILE_RATE = 48000  # profiles live on the 48 kHz grid
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".aif", ".aiff")
#: built-in profiles: power-density slope in dB/octave around 1 kHz
BUILTIN_TILTS = {"Pink": -3.0, "Warm": -4.0, "Bright": -2.0}
BUILTIN_HIGHPASS_HZ = 40.0


@dataclass(frozen=True)
class Profile:
    name: str
    grid_hz: np.ndarray
    median_db: np.ndarray  # loudness-normalised
    spread_db: np.ndarray  # inter-quartile range per grid point, >= 0
    files: int  # source files (0: a built-in formula)
    source: str = ""  # "builtin", or the file it was loaded from

    def to_json(self) -> dict:
        return {"format": FORMAT, "version": VERSION, "name": self.name, "files": int(self.files),
                "grid_hz": [round(float(v), 4) for v in self.grid_hz],
                "median_db": [round(float(v), 3) for v in self.median_db],
                "spread_db": [round(float(v), 3) for v in self.spread_db]}

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(json.dumps(self.to_json(), indent=1) + "\n")
        return path

    def on_grid(self, grid: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(median dB loudness-normalised with ``weights``, tolerance = spread / 2) on ``grid``
        (log-frequency interpolation; held constant beyond the profile's ends)."""
        lg, lp = np.log2(grid), np.log2(self.grid_hz)
        med = np.interp(lg, lp, self.median_db)
        tol = np.interp(lg, lp, self.spread_db) / 2.0
        return loudness_normalise(med, weights), tol


def profile_grid() -> tuple[np.ndarray, np.ndarray]:
    """The profile grid (Hz) and its K-weights."""
    g = log_grid(PROFILE_RATE)
    return g, grid_weights(g, PROFILE_RATE)


def builtin_profile(name: str) -> Profile:
    if name not in BUILTIN_TILTS:
        raise KeyError(f"no built-in profile {name!r} (built-ins: {', '.join(BUILTIN_TILTS)})")
    g, w = profile_grid()
    r4 = (g / BUILTIN_HIGHPASS_HZ) ** 4
    db = BUILTIN_TILTS[name] * np.log2(g / 1000.0) + 10.0 * np.log10(r4 / (1.0 + r4))  # Butterworth |H|^2
    return Profile(name, g, loudness_normalise(db, w), np.zeros(len(g)), 0, "builtin")


def _fail(path: Path, why: str) -> ValueError:
    return ValueError(f"{path}: not a valid Bandmate profile ({why})")


def load_profile(path: str | Path) -> Profile:
    """Read and validate a profile file (ValueError naming the file if it is not one)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"no profile file {path}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise _fail(path, f"unreadable JSON: {e}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise _fail(path, f"format is not {FORMAT!r}")
    if data.get("version") != VERSION:
        raise _fail(path, f"version {data.get('version')!r}, this Bandmate reads version {VERSION}")
    try:
        arrays = [np.asarray(data[k], float) for k in ("grid_hz", "median_db", "spread_db")]
        files = int(data.get("files", 0))
    except (KeyError, TypeError, ValueError) as e:
        raise _fail(path, f"missing or non-numeric field: {e}") from None
    grid, med, spread = arrays
    if any(a.ndim != 1 for a in arrays) or not len(grid) == len(med) == len(spread) or len(grid) < 2:
        raise _fail(path, "grid_hz, median_db and spread_db must be lists of the same length >= 2")
    if not all(np.all(np.isfinite(a)) for a in arrays):
        raise _fail(path, "non-finite values")
    if np.any(grid <= 0) or np.any(np.diff(grid) <= 0):
        raise _fail(path, "grid_hz must be positive and increasing")
    if np.any(spread < 0) or files < 0:
        raise _fail(path, "negative spread or file count")
    return Profile(str(data.get("name") or path.stem), grid, med, spread, files, str(path))


def _check_name(name: str) -> str:
    if not name or "/" in name or "\\" in name or name.startswith(".") or "\0" in name:
        raise ValueError(f"bad profile name {name!r} (a file name without folders)")
    return name


def find_profile(name: str, folder: str | Path | None = None) -> Profile:
    """A profile by name: ``<folder>/<name>.json`` (default: the user's profile folder), else a
    built-in. FileNotFoundError when neither exists; ValueError for a corrupt file."""
    from bandmate.paths import profile_dir

    folder = Path(folder) if folder is not None else profile_dir()
    path = folder / f"{_check_name(name)}.json"
    if path.is_file():
        return load_profile(path)
    if name in BUILTIN_TILTS:
        return builtin_profile(name)
    raise FileNotFoundError(f"no profile {name!r}: not in {folder} and not a built-in ({', '.join(BUILTIN_TILTS)})")


def list_profiles(folder: str | Path | None = None) -> list[str]:
    """Built-in names, then the user folder's profile names (sorted)."""
    from bandmate.paths import profile_dir

    folder = Path(folder) if folder is not None else profile_dir()
    user = sorted(p.stem for p in folder.glob("*.json")) if folder.is_dir() else []
    return list(BUILTIN_TILTS) + [n for n in user if n not in BUILTIN_TILTS]


# ---------------------------------------------------------------------------------- capture

def audio_files(sources: Iterable[str | Path]) -> list[Path]:
    """Files and folders (searched recursively) -> audio files, sorted per folder."""
    out: list[Path] = []
    for s in sources:
        p = Path(s)
        if p.is_dir():
            out += sorted(f for f in p.rglob("*") if f.suffix.lower() in AUDIO_SUFFIXES and f.is_file())
        elif p.is_file():
            out.append(p)
        else:
            raise FileNotFoundError(f"no such file or folder: {p}")
    if not out:
        raise FileNotFoundError(f"no audio files ({', '.join(AUDIO_SUFFIXES)}) in {', '.join(map(str, sources))}")
    return out


def spectrum_on_profile_grid(audio: np.ndarray, rate: int) -> np.ndarray:
    """Gated whole-signal long-term spectrum of (channels, n) audio (channel power mean),
    loudness-normalised, on the profile grid. ValueError if nothing passes the gates."""
    x = np.atleast_2d(np.asarray(audio, float))
    lts = LongTermSpectrum(rate, rows=x.shape[0], window_s=None)
    lts.push(x)
    if not lts.ready:
        raise ValueError("no audio above the gates (silent or shorter than one analysis frame)")
    db = lts.spectrum_db(normalise=False, mean_rows=True)[0]
    g, w = profile_grid()
    return loudness_normalise(np.interp(np.log2(g), np.log2(lts.grid), db), w)


def capture_profile(sources: Sequence[str | Path], name: str) -> Profile:
    """Median spectrum + inter-quartile spread of the audio files in ``sources``."""
    import soundfile as sf

    specs = []
    for f in audio_files(sources):
        try:
            x, rate = sf.read(str(f), dtype="float32", always_2d=True)
            specs.append(spectrum_on_profile_grid(x.T, rate))
        except (RuntimeError, sf.LibsndfileError) as e:
            raise ValueError(f"{f}: cannot read audio ({e})") from None
        except ValueError as e:
            raise ValueError(f"{f}: {e}") from None
    s = np.array(specs)
    g, w = profile_grid()
    med = loudness_normalise(np.median(s, axis=0), w)
    q75, q25 = np.percentile(s, [75, 25], axis=0)
    spread = q75 - q25 if len(s) >= 2 else np.zeros(len(g))
    return Profile(_check_name(name), g, med, spread, len(s), "")


# ---------------------------------------------------------------------------------- compare

@dataclass(frozen=True)
class Comparison:
    grid_hz: np.ndarray
    track_db: np.ndarray  # loudness-normalised
    target_db: np.ndarray
    tolerance_db: np.ndarray  # spread / 2
    correction_db: np.ndarray  # Profile EQ's curve at its defaults (no make-up gain)
    band_dev_db: dict[str, float]  # + = track louder than the profile, per meter band


def compare(audio: np.ndarray, rate: int, profile: Profile) -> Comparison:
    track = spectrum_on_profile_grid(audio, rate)
    g, w = profile_grid()
    target, tol = profile.on_grid(g, w)
    p = DEFAULTS
    corr = match_curve(track, target, g, smoothing_oct=p["smoothing_oct"], amount=p["amount"],
                       max_cut_db=p["max_cut_db"], max_boost_db=p["max_boost_db"], low_hz=p["low_hz"],
                       high_hz=p["high_hz"], tolerance_db=p["tolerance_db"] + tol)
    dev = band_deviation_db(track, target, g, w)
    return Comparison(g, track, target, tol, corr, dict(zip(METER_IDS, map(float, dev), strict=True)))


def comparison_text(c: Comparison, name: str = "") -> str:
    lines = [f"track vs profile {name}: level difference per band (dB, + = track louder)"]
    for i, (k, v) in enumerate(c.band_dev_db.items()):
        lo, hi = METER_EDGES_HZ[i], METER_EDGES_HZ[i + 1]
        span = f"{lo:g}-{hi:g} Hz" if hi < 1e8 else f"above {lo:g} Hz"
        lines.append(f"  {k:<12} {span:<16} {v:+6.1f}")
    band = (c.grid_hz >= 40) & (c.grid_hz <= 16000)
    lines.append(f"  correction range {c.correction_db[band].min():+.1f} .. {c.correction_db[band].max():+.1f} dB "
                 f"(40 Hz-16 kHz)")
    return "\n".join(lines)


def plot_comparison(c: Comparison, path: str | Path, title: str = "") -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4.5))
    ax.fill_between(c.grid_hz, c.target_db - c.tolerance_db, c.target_db + c.tolerance_db, color="C1", alpha=0.2,
                    label="profile tolerance (spread / 2)")
    ax.semilogx(c.grid_hz, c.target_db, color="C1", label="profile (median)")
    ax.semilogx(c.grid_hz, c.track_db, color="C0", label="track")
    ax.semilogx(c.grid_hz, c.correction_db, color="C2", ls="--", label="correction (Profile EQ defaults)")
    ax.set_xlabel("Hz")
    ax.set_ylabel("dB (loudness-normalised)")
    ax.set_xlim(20, 20000)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower left", fontsize=8)
    ax.set_title(title or "track vs profile")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


# ---------------------------------------------------------------------------------- CLI

def _profile_arg(value: str) -> Profile:
    p = Path(value)
    return load_profile(p) if p.suffix == ".json" or p.exists() else find_profile(value)


def profile_main(argv: list[str] | None = None) -> int:
    """``bandmate profile capture|compare|list`` (see --help)."""
    import argparse

    import soundfile as sf

    from bandmate.paths import profile_dir

    ap = argparse.ArgumentParser(prog="bandmate profile", description="Profile EQ target profiles.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("capture", help="build a profile (median spectrum + spread) from reference audio")
    c.add_argument("sources", nargs="+", help="audio files or folders (searched recursively)")
    c.add_argument("-o", "--output", required=True, help="NAME.json (the profile's name is the file name)")
    c.add_argument("--user", action="store_true", help=f"write into the user profile folder ({profile_dir()})")
    m = sub.add_parser("compare", help="track vs profile: 4-band text summary, optional plot")
    m.add_argument("input", help="audio file")
    m.add_argument("--profile", required=True, help="a profile file (.json) or a profile name")
    m.add_argument("--plot", help="write track vs target vs correction to this image (PNG)")
    sub.add_parser("list", help="built-in and user profile names")
    args = ap.parse_args(argv)
    try:
        if args.cmd == "list":
            print(f"# user folder: {profile_dir()}")
            print("\n".join(list_profiles()))
        elif args.cmd == "capture":
            out = Path(args.output)
            out = profile_dir(create=True) / out.name if args.user else out
            if out.suffix != ".json":
                ap.error(f"output {out} must end in .json")
            prof = capture_profile(args.sources, out.stem)
            prof.save(out)
            print(f"wrote {out} ({prof.files} file(s))")
        else:
            prof = _profile_arg(args.profile)
            x, rate = sf.read(args.input, dtype="float32", always_2d=True)
            comp = compare(x.T, rate, prof)
            print(comparison_text(comp, prof.name))
            if args.plot:
                plot_comparison(comp, args.plot, f"{Path(args.input).name} vs profile {prof.name}")
                print(f"wrote {args.plot}")
    except (FileNotFoundError, ValueError, KeyError) as e:
        print(f"bandmate profile: {e}", file=sys.stderr)
        return 1
    return 0
