"""bandmate._dsp.PartitionedConvolver against direct convolution of the whole stream."""

import numpy as np
import pytest
from bandmate._dsp import PartitionedConvolver

TOL = 1e-10  # relative to the reference's peak


def run(conv: PartitionedConvolver, x: np.ndarray) -> np.ndarray:
    hop = conv.hop
    return np.concatenate([conv.process(x[:, s : s + hop]) for s in range(0, x.shape[1], hop)], axis=1)


def convolve(x: np.ndarray, h: np.ndarray, ms: bool = False) -> np.ndarray:
    """Each channel of x (C, n) convolved with its row of h (1 row: all), truncated to n; ms: the
    rows filter mid and side."""
    n = x.shape[1]
    if ms:
        return mid_side(convolve(mid_side(x), h))
    return np.stack([np.convolve(xc, h[min(c, len(h) - 1)])[:n] for c, xc in enumerate(x)])


def mid_side(x: np.ndarray) -> np.ndarray:
    return np.stack([x[0] + x[1], x[0] - x[1]]) * np.sqrt(0.5)


def assert_close(y: np.ndarray, ref: np.ndarray) -> None:
    assert y.shape == ref.shape
    assert np.max(np.abs(y - ref)) <= TOL * np.max(np.abs(ref))


@pytest.mark.parametrize("hop", [64, 128, 192, 256, 384, 512])
@pytest.mark.parametrize(("channels", "rows", "ms"), [(1, 1, False), (2, 1, False), (2, 2, False), (2, 2, True)])
def test_matches_direct_convolution(hop, channels, rows, ms):
    rng = np.random.default_rng(hop + 10 * channels + rows + 100 * ms)
    parts = 1 + hop % 7  # 1..7 partitions
    h = rng.standard_normal((rows, parts * hop)) * np.exp(-np.arange(parts * hop) / hop)
    x = rng.standard_normal((channels, 12 * hop))
    conv = PartitionedConvolver(channels, hop, parts * hop)
    conv.set_filter(h, ms, 1)  # fade 1: the first sample is already the new filter's
    assert_close(run(conv, x), convolve(x, h, ms))


@pytest.mark.parametrize("hop", [1, 5, 7, 100])
def test_odd_hops(hop):
    rng = np.random.default_rng(hop)
    h, x = rng.standard_normal((2, 3 * hop)), rng.standard_normal((2, 20 * hop))
    conv = PartitionedConvolver(2, hop, 3 * hop)
    conv.set_filter(h, False, 1)
    assert_close(run(conv, x), convolve(x, h))


def test_identity_feeds_history_and_reset():
    rng = np.random.default_rng(0)
    hop, n_fir = 128, 512
    x, h = rng.standard_normal((2, 16 * hop)), rng.standard_normal((1, n_fir))
    conv = PartitionedConvolver(2, hop, n_fir)
    y = run(conv, x[:, : 8 * hop])
    assert np.array_equal(y, x[:, : 8 * hop])  # identity: the input itself
    conv.set_filter(h, False, 1)  # the delay line was fed: the filter sees the earlier input
    assert_close(run(conv, x[:, 8 * hop :]), convolve(x, h)[:, 8 * hop :])
    conv.reset()  # zero history (the stream starts again at 8 hops), identity
    assert np.array_equal(run(conv, x[:, 8 * hop : 9 * hop]), x[:, 8 * hop : 9 * hop])
    conv.set_filter(h, False, 1)
    assert_close(run(conv, x[:, 9 * hop :]), convolve(x[:, 8 * hop :], h)[:, hop:])


@pytest.mark.parametrize("delay", [0, 50, 128, 300])
def test_identity_delay(delay):
    rng = np.random.default_rng(delay)
    hop, n_fir = 128, 512
    x, h = rng.standard_normal((2, 12 * hop)), rng.standard_normal((2, n_fir))
    conv = PartitionedConvolver(2, hop, n_fir, identity_delay=delay)
    delayed = np.concatenate([np.zeros((2, delay)), x], axis=1)[:, : x.shape[1]]
    assert np.array_equal(run(conv, x[:, : 4 * hop]), delayed[:, : 4 * hop])  # exactly
    conv.set_filter(h, False, 2 * hop)  # from the delayed input to the filter
    ramp = np.clip(np.arange(-4 * hop + 1, 8 * hop + 1) / (2 * hop), 0.0, 1.0)
    wet = convolve(x, h)
    assert_close(run(conv, x[:, 4 * hop :]), (delayed + (wet - delayed) * ramp)[:, 4 * hop :])


@pytest.mark.parametrize("delay", [0, 50, 128, 300])
def test_delayed_input_is_the_dry_path_under_any_filter(delay):
    rng = np.random.default_rng(100 + delay)
    hop, n_fir = 128, 512
    x = rng.standard_normal((2, 10 * hop))
    conv = PartitionedConvolver(2, hop, n_fir, identity_delay=delay)
    delayed = np.concatenate([np.zeros((2, delay)), x], axis=1)[:, : x.shape[1]]
    for k in range(10):
        if k == 3:
            conv.set_filter(rng.standard_normal((2, n_fir)), False, hop)
        conv.process(x[:, k * hop : (k + 1) * hop])
        assert np.array_equal(conv.delayed_input(), delayed[:, k * hop : (k + 1) * hop]), k  # exactly


def test_strided_and_float32_input():
    rng = np.random.default_rng(1)
    hop, h = 64, rng.standard_normal((2, 256))
    big = rng.standard_normal((2, 3, 10 * hop))
    x = big[:, 1, :]  # not C-contiguous
    conv = PartitionedConvolver(2, hop, 256)
    conv.set_filter(h, True, 1)
    assert_close(run(conv, x), convolve(x, h, ms=True))
    conv.reset()
    conv.set_filter(h, True, 1)
    x32 = x.astype(np.float32)
    assert_close(run(conv, x32), convolve(x32.astype(float), h, ms=True))


@pytest.mark.parametrize("fade", [50, 128, 128 * 3 + 17])
def test_crossfade(fade):
    rng = np.random.default_rng(fade)
    hop, n_fir, k = 128, 384, 5  # the change before hop k
    x = rng.standard_normal((2, 12 * hop))
    h_old, h_new, h_discarded = (rng.standard_normal((2, n_fir)) for _ in range(3))
    conv = PartitionedConvolver(2, hop, n_fir)
    conv.set_filter(h_old, True, 1)
    y = [conv.process(x[:, s * hop : (s + 1) * hop]) for s in range(k)]
    conv.set_filter(h_discarded, False, 7)  # replaced before it produced a sample: h_old stays the start
    conv.set_filter(h_new, False, fade)
    y = np.concatenate(y + [conv.process(x[:, s * hop : (s + 1) * hop]) for s in range(k, 12)], axis=1)
    old, new = convolve(x, h_old, ms=True), convolve(x, h_new)
    ramp = np.ones(x.shape[1])
    ramp[: k * hop] = 0.0
    ramp[k * hop : k * hop + fade] = np.arange(1, fade + 1) / fade
    assert_close(y, old + (new - old) * ramp)


def test_set_filter_during_a_fade_starts_from_its_target():
    rng = np.random.default_rng(2)
    hop, n_fir = 64, 128
    x = rng.standard_normal((1, 10 * hop))
    h1, h2, h3 = (rng.standard_normal((1, n_fir)) for _ in range(3))
    conv = PartitionedConvolver(1, hop, n_fir)
    conv.set_filter(h1, False, 1)
    y = [conv.process(x[:, :hop])]
    conv.set_filter(h2, False, 4 * hop)
    y.append(conv.process(x[:, hop : 2 * hop]))  # a quarter of the way to h2
    conv.set_filter(h3, False, hop)  # from h2 to h3
    y += [conv.process(x[:, s * hop : (s + 1) * hop]) for s in range(2, 10)]
    y = np.concatenate(y, axis=1)
    y1, y2, y3 = convolve(x, h1), convolve(x, h2), convolve(x, h3)
    r = np.arange(1, hop + 1) / hop
    ref = y3.copy()
    ref[:, :hop] = y1[:, :hop]
    ref[:, hop : 2 * hop] = y1[:, hop : 2 * hop] + (y2 - y1)[:, hop : 2 * hop] * r / 4
    ref[:, 2 * hop : 3 * hop] = y2[:, 2 * hop : 3 * hop] + (y3 - y2)[:, 2 * hop : 3 * hop] * r
    assert_close(y, ref)


def test_fade_to_identity():
    rng = np.random.default_rng(3)
    hop = 192
    x, h = rng.standard_normal((2, 6 * hop)), rng.standard_normal((1, 2 * hop))
    conv = PartitionedConvolver(2, hop, 2 * hop)
    conv.set_filter(h, False, 1)
    y = [conv.process(x[:, :hop])]
    conv.set_filter(None, False, hop)
    y = np.concatenate(y + [conv.process(x[:, s * hop : (s + 1) * hop]) for s in range(1, 6)], axis=1)
    wet = convolve(x, h)
    ramp = np.clip((np.arange(6 * hop) - hop + 1) / hop, 0.0, 1.0)
    assert_close(y, wet + (x - wet) * ramp)


def test_errors():
    with pytest.raises(ValueError, match="multiple of hop"):
        PartitionedConvolver(2, 192, 4096)
    with pytest.raises(ValueError, match="channels"):
        PartitionedConvolver(3, 64, 128)
    with pytest.raises(ValueError, match="hop"):
        PartitionedConvolver(1, 0, 128)
    with pytest.raises(ValueError, match="identity_delay"):
        PartitionedConvolver(1, 64, 128, identity_delay=-1)
    conv = PartitionedConvolver(2, 64, 128)
    with pytest.raises(ValueError, match=r"shape \(1, 128\) or \(2, 128\), got \(3, 128\)"):
        conv.set_filter(np.zeros((3, 128)), False, 1)
    with pytest.raises(ValueError, match=r"got \(1, 127\)"):
        conv.set_filter(np.zeros((1, 127)), False, 1)
    with pytest.raises(ValueError, match=r"got \(128,\)"):
        conv.set_filter(np.zeros(128), False, 1)
    bad = np.zeros((2, 128))
    bad[1, 5] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        conv.set_filter(bad, False, 1)
    with pytest.raises(ValueError, match="real"):
        conv.set_filter(np.zeros((1, 128), complex), False, 1)
    with pytest.raises(ValueError, match="fade"):
        conv.set_filter(None, False, 0)
    with pytest.raises(ValueError, match=r"x must have shape \(2, 64\), got \(1, 64\)"):
        conv.process(np.zeros((1, 64)))
    x = np.ones((2, 64))
    assert np.array_equal(conv.process(x), x)  # the errors left the identity filter in place
