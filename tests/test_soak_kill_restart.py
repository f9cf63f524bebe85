"""Short functional version of bench/paced_soak.py's kill/restart soak: in realtime mode, paced
like a DAW, the backend is SIGKILLed and respawned by the plugin, and every output sample is
checked to be exactly the latency-aligned dry input, exactly the processed input, or a
crossfade of those two for the same input sample — never audio of another hop (stale).
(test_bridge_realtime.py covers a stalled backend; test_bridge_vst3.py a killed one in
deterministic mode by level only.)"""

from __future__ import annotations

import numpy as np

from bench.paced_soak import classify, counter_code, kill_soak

FADE = 240  # 5 ms at 48 kHz


def synthetic(n: int = 4096, latency: int = 768) -> tuple[np.ndarray, np.ndarray]:
    """An output that is wet, fades to dry at 1024 and back at 2304 (as the plugin does)."""
    x = counter_code(0, n)[0].astype(np.float64)
    d = np.zeros(n)
    d[latency:] = x[: n - latency]
    g = np.ones(n)
    g[1024 : 1024 + FADE] = 1 - np.arange(1, FADE + 1) / FADE
    g[1024 + FADE : 2304] = 0
    g[2304 : 2304 + FADE] = np.arange(1, FADE + 1) / FADE
    y = (g * -d + (1 - g) * d).astype(np.float32)
    return y, d


def test_classifier_accepts_crossfades_and_catches_stale_audio_and_hard_switches():
    y, d = synthetic()
    ok = classify(y, d, FADE)
    assert ok.invalid == 0 and ok.bad_steps == 0
    assert set(np.unique(ok.state)) == {0, 1, 2}

    stale = y.copy()
    stale[3072:3328] = y[3072 - 256 : 3328 - 256]  # one hop of processed audio, one hop late
    c = classify(stale, d, FADE)
    assert c.invalid + c.bad_steps > 0

    for t in (1100, 3072):  # a single sample one sample late, inside a crossfade and in wet audio
        one = y.copy()
        one[t] = y[t - 1]
        assert classify(one, d, FADE).bad_steps > 0

    stale_dry = y.copy()
    stale_dry[1600:1856] = d[1600 - 256 : 1856 - 256]  # dry from the wrong time
    c = classify(stale_dry, d, FADE)
    assert c.invalid + c.bad_steps > 0

    hard = y.copy()
    hard[2304 : 2304 + FADE] = -d[2304 : 2304 + FADE]  # dry -> processed without a crossfade
    c = classify(hard, d, FADE)
    assert c.bad_steps > 0


def test_backend_killed_during_paced_run_recovers_without_stale_audio(runtime_dir):
    r = kill_soak(runtime_dir, n=2, seconds=14.0, kill_at=[2.5])  # respawn ~1.7 s after the kill
    assert r.process_errors == 0
    assert len(r.kills) == 1
    ev = r.kills[0]
    assert r.samples_checked > 0 and r.invalid == 0 and r.bad_fade_steps == 0, r
    assert r.longest_fade <= 2 * 256, r
    assert ev.dry is not None and ev.dry - ev.at < 0.2, "the gap must start at once (fallback to dry)"
    assert ev.ready is not None, "the plugin must respawn the backend"
    assert ev.wet is not None and ev.wet - ev.ready < 1.5, f"wet again within 3 heartbeats of the backend: {ev}"
    assert 0.2 < r.wet_fraction < 1.0
