import json

import numpy as np
from bandmate.data import sources
from bandmate.data.build import build, load_split
from bandmate.features import N_FEATURES


def test_tiny_build_and_cache(tmp_path):
    man = build(tmp_path, seed=1, limit=1, jobs=2)
    assert (tmp_path / "manifest.json").exists()
    assert json.loads((tmp_path / "manifest.json").read_text())["licences"]["mma"].startswith("GPL-2+")
    assert man["songs"], man["skipped"]
    for e in man["songs"]:
        z = np.load(tmp_path / e["file"])
        assert z["features"].shape == (e["n_bars"], 16, N_FEATURES)
        assert z["hits"].shape == z["offset"].shape == (e["n_bars"], 16, 9) and z["hits"].sum() > 0
        assert np.abs(z["offset"].astype(np.float32)).max() <= 0.5
        assert e["soundfont"] in sources.SOUNDFONTS and e["split"] in ("train", "val", "test")
    split = man["songs"][0]["split"]
    assert len(load_split(tmp_path, split)["features"]) >= man["songs"][0]["n_bars"]
    mtime = (tmp_path / man["songs"][0]["file"]).stat().st_mtime
    build(tmp_path, seed=1, limit=1, jobs=2)  # cached: not rewritten
    assert (tmp_path / man["songs"][0]["file"]).stat().st_mtime == mtime


def test_tiny_bass_build_and_cache(tmp_path):
    from bandmate.data.bass import N_PITCH, PITCH_LO, build_bass, load_bass_split

    man = build_bass(tmp_path, seed=1, limit=2, jobs=2)
    assert man["songs"], man["skipped"]
    for e in man["songs"]:
        z = np.load(tmp_path / e["file"])
        n = e["n_bars"]
        assert z["features"].shape == (n, 16, N_FEATURES) and z["onset"].shape == z["chord_mask"].shape == (n, 16)
        on = z["onset"].astype(bool)
        assert on.sum() > 0 and (z["pitch"][on] >= PITCH_LO).all() and (z["pitch"][on] < PITCH_LO + N_PITCH).all()
        assert (z["length"][on] > 0).all() and (z["chord_root"] >= -1).all() and (z["chord_root"] < 12).all()
    d = load_bass_split(tmp_path, man["songs"][0]["split"])
    assert len(d["features"]) == len(d["features_alt"]) >= man["songs"][0]["n_bars"]
    mtime = (tmp_path / man["songs"][0]["file"]).stat().st_mtime
    build_bass(tmp_path, seed=1, limit=2, jobs=2)  # cached: not rewritten
    assert (tmp_path / man["songs"][0]["file"]).stat().st_mtime == mtime
