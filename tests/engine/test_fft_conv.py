"""FFT convolution (znn.fft) against direct references.

Truth: scipy.signal.convolve with an explicitly dilated kernel ('valid' mode) for the
forward pass; plain numpy loops over kernel taps for the two adjoints; the adjoint
identity <conv(x), g> = <x, grad_in(g)> = <W, dW(x, g)> in float64.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
import scipy.signal

from znn.fft import conv, plans

KERNELS = [(1, 3, 3), (2, 3, 4), (3, 3, 3)]
DILATIONS = [(1, 1, 1), (1, 2, 2), (2, 1, 3)]


# ----------------------------------------------------------------- direct references

def dilate(kernel: np.ndarray, d) -> np.ndarray:
    span = tuple((s - 1) * di + 1 for s, di in zip(kernel.shape, d))
    out = np.zeros(span, dtype=kernel.dtype)
    out[::d[0], ::d[1], ::d[2]] = kernel
    return out


def ref_forward(x: np.ndarray, w: np.ndarray, d) -> np.ndarray:
    return scipy.signal.convolve(x, dilate(w, d), mode="valid", method="direct")


def taps(w: np.ndarray, d):
    """(t, input offset (s-1-t)*d) for every kernel tap t."""
    for t in np.ndindex(w.shape):
        yield t, tuple((s - 1 - ti) * di for s, ti, di in zip(w.shape, t, d))


def window(offset, shape):
    return tuple(slice(o, o + m) for o, m in zip(offset, shape))


def ref_forward_loop(x, w, d):
    out_shape = tuple(n - (s - 1) * di for n, s, di in zip(x.shape, w.shape, d))
    out = np.zeros(out_shape)
    for t, off in taps(w, d):
        out += w[t] * x[window(off, out_shape)]
    return out


def ref_input_grad(g, w, d, in_shape):
    """g_in[p + (s-1-t)d] += g[p] W[t]."""
    grad = np.zeros(in_shape)
    for t, off in taps(w, d):
        grad[window(off, g.shape)] += g * w[t]
    return grad


def ref_kernel_grad(x, g, w_shape, d):
    """dW[t] = sum_p g[p] x[p + (s-1-t)d]."""
    dw = np.zeros(w_shape)
    for t, off in taps(dw, d):
        dw[t] = np.sum(g * x[window(off, g.shape)])
    return dw


def random_case(rng, kernel, d, dtype=np.float64, extra=None):
    span = conv.kernel_span(kernel, d)
    extra = extra if extra is not None else rng.integers(1, 6, size=3)
    in_shape = tuple(int(sp + e) for sp, e in zip(span, extra))
    x = rng.standard_normal(in_shape).astype(dtype)
    w = rng.standard_normal(kernel).astype(dtype)
    g = rng.standard_normal(conv.valid_shape(in_shape, span)).astype(dtype)
    return x, w, g


def single_pair(x, w, g, d):
    """Forward output, input gradient, kernel gradient of one edge via the building blocks."""
    span = conv.kernel_span(w.shape, d)
    N = conv.transform_shape(x.shape)
    X, K, G = conv.input_spectrum(x, N), conv.kernel_spectrum(w, d, N), conv.grad_spectrum(g, span, N)
    out = conv.valid_from_spectrum(X * K, N, x.shape, span)
    gin = conv.input_grad_from_spectrum(G * np.conj(K), N, x.shape)
    dw = conv.kernel_grad_from_spectrum(G * np.conj(X), N, w.shape, d)
    return out, gin, dw


def rel_err(a, b):
    return np.abs(a - b).max() / np.abs(b).max()


# ------------------------------------------------------------------------ building blocks

def test_references_agree_with_each_other():
    rng = np.random.default_rng(0)
    x, w, _ = random_case(rng, (2, 3, 4), (2, 1, 3))
    np.testing.assert_allclose(ref_forward(x, w, (2, 1, 3)), ref_forward_loop(x, w, (2, 1, 3)),
                               rtol=1e-12, atol=1e-12)


def test_transform_shape_is_fftw_friendly_and_covers_input():
    assert conv.transform_shape((11, 13, 8)) == (12, 14, 8)
    assert conv.transform_shape((1, 17, 97)) == (1, 18, 98)


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("d", DILATIONS)
def test_single_edge_float64_matches_direct(kernel, d):
    rng = np.random.default_rng(hash((kernel, d)) % 2**32)
    for _ in range(2):  # odd/even extents, N > n and N == n both occur
        x, w, g = random_case(rng, kernel, d)
        out, gin, dw = single_pair(x, w, g, d)
        assert out.dtype == np.float64 and out.shape == g.shape
        assert rel_err(out, ref_forward(x, w, d)) < 1e-12
        assert rel_err(gin, ref_input_grad(g, w, d, x.shape)) < 1e-12
        assert rel_err(dw, ref_kernel_grad(x, g, w.shape, d)) < 1e-12


@pytest.mark.parametrize("kernel,d", [((1, 3, 3), (1, 2, 2)), ((3, 3, 3), (2, 1, 3))])
def test_single_edge_float32_matches_direct(kernel, d):
    rng = np.random.default_rng(7)
    x, w, g = random_case(rng, kernel, d, dtype=np.float32)
    out, gin, dw = single_pair(x, w, g, d)
    assert out.dtype == gin.dtype == dw.dtype == np.float32
    x64, w64, g64 = (a.astype(np.float64) for a in (x, w, g))
    assert rel_err(out, ref_forward(x64, w64, d)) < 1e-5
    assert rel_err(gin, ref_input_grad(g64, w64, d, x.shape)) < 1e-5
    assert rel_err(dw, ref_kernel_grad(x64, g64, w.shape, d)) < 1e-5


def test_transform_exactly_at_input_size_does_not_wrap():
    # extents that are already FFTW-friendly: N == n, the tightest case for wrap-around
    rng = np.random.default_rng(3)
    d = (2, 1, 3)
    x = rng.standard_normal((8, 9, 10))
    w = rng.standard_normal((2, 3, 4))
    g = rng.standard_normal(conv.valid_shape(x.shape, conv.kernel_span(w.shape, d)))
    assert conv.transform_shape(x.shape) == x.shape
    out, gin, dw = single_pair(x, w, g, d)
    assert rel_err(out, ref_forward(x, w, d)) < 1e-12
    assert rel_err(gin, ref_input_grad(g, w, d, x.shape)) < 1e-12
    assert rel_err(dw, ref_kernel_grad(x, g, w.shape, d)) < 1e-12


@pytest.mark.parametrize("d", DILATIONS)
def test_adjoint_identity(d):
    rng = np.random.default_rng(11)
    x, w, g = random_case(rng, (2, 3, 4), d)
    out, gin, dw = single_pair(x, w, g, d)
    lhs = np.vdot(out, g)
    assert abs(lhs - np.vdot(x, gin)) < 1e-12 * abs(lhs) + 1e-12
    assert abs(lhs - np.vdot(w, dw)) < 1e-12 * abs(lhs) + 1e-12


@pytest.mark.parametrize("conj", [False, True])
@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
def test_accumulate_products_in_place(conj, dtype):
    rng = np.random.default_rng(5)
    shape = (3, 4, 5)
    A, B, acc = (
        (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(dtype) for _ in range(3))
    expected = acc + A * (np.conj(B) if conj else B)
    before = acc
    conv.accumulate_products(acc, A, B, conj=conj)
    assert acc is before
    np.testing.assert_allclose(acc, expected, rtol=1e-5 if dtype == np.complex64 else 1e-14)


def test_accumulate_products_rejects_mixed_precision():
    a = np.zeros((2, 2), np.complex64)
    with pytest.raises(TypeError):
        conv.accumulate_products(a, a, a.astype(np.complex128))


def test_kernel_larger_than_input_is_rejected():
    with pytest.raises(ValueError):
        conv.fft_conv_forward(np.zeros((1, 4, 4, 4)), np.zeros((1, 1, 3, 3, 3)), (1, 2, 2))


# ------------------------------------------------------------------------- edge groups

def group_case(rng, dtype=np.float64, kernel=(2, 3, 3), d=(1, 2, 1), n_in=3, n_out=2):
    span = conv.kernel_span(kernel, d)
    in_shape = tuple(sp + e for sp, e in zip(span, (3, 2, 5)))
    x = rng.standard_normal((n_in,) + in_shape).astype(dtype)
    w = rng.standard_normal((n_in, n_out) + kernel).astype(dtype)
    g = rng.standard_normal((n_out,) + conv.valid_shape(in_shape, span)).astype(dtype)
    return x, w, g, d


@pytest.mark.parametrize("cache_spectra", [True, False])
def test_edge_group_matches_sum_of_pairs(cache_spectra):
    rng = np.random.default_rng(21)
    x, w, g, d = group_case(rng)
    n_in, n_out = w.shape[:2]
    out, cache = conv.fft_conv_forward(x, w, d, cache_spectra=cache_spectra)
    grad_in, dw = conv.fft_conv_backward(g, cache, w, d, need_input_grad=True)

    for j in range(n_out):
        expected = sum(ref_forward(x[i], w[i, j], d) for i in range(n_in))
        assert rel_err(out[j], expected) < 1e-12
    for i in range(n_in):
        expected = sum(ref_input_grad(g[j], w[i, j], d, x.shape[1:]) for j in range(n_out))
        assert rel_err(grad_in[i], expected) < 1e-12
        for j in range(n_out):
            assert rel_err(dw[i, j], ref_kernel_grad(x[i], g[j], w.shape[2:], d)) < 1e-12
    assert (cache.kernel_spectra is None) == (not cache_spectra)


def test_edge_group_cached_and_uncached_agree_float32():
    rng = np.random.default_rng(22)
    x, w, g, d = group_case(rng, dtype=np.float32, kernel=(3, 3, 3), d=(1, 1, 1))
    out_c, cache_c = conv.fft_conv_forward(x, w, d, cache_spectra=True)
    out_u, cache_u = conv.fft_conv_forward(x, w, d, cache_spectra=False)
    gin_c, dw_c = conv.fft_conv_backward(g, cache_c, w, d)
    gin_u, dw_u = conv.fft_conv_backward(g, cache_u, w, d)
    assert out_c.dtype == gin_c.dtype == dw_c.dtype == np.float32
    np.testing.assert_array_equal(out_c, out_u)
    np.testing.assert_array_equal(gin_c, gin_u)
    np.testing.assert_array_equal(dw_c, dw_u)
    expected = sum(ref_forward(x[i].astype(np.float64), w[i, 0].astype(np.float64), d)
                   for i in range(x.shape[0]))
    assert rel_err(out_c[0], expected) < 1e-5


def test_given_kernel_spectra_are_used_and_backward_skips_input_grad():
    rng = np.random.default_rng(23)
    x, w, g, d = group_case(rng)
    N = conv.transform_shape(x.shape[1:])
    spectra = conv.kernel_spectra(w, d, N)
    out_given, cache = conv.fft_conv_forward(x, np.zeros_like(w), d, kernel_spectra=spectra)
    out_plain, _ = conv.fft_conv_forward(x, w, d)
    np.testing.assert_allclose(out_given, out_plain, rtol=1e-13, atol=1e-13)
    assert cache.kernel_spectra[0][0] is spectra[0][0]  # shared, not copied
    grad_in, dw = conv.fft_conv_backward(g, cache, w, d, need_input_grad=False)
    assert grad_in is None and dw.shape == w.shape


def test_edge_group_adjoint_identity():
    rng = np.random.default_rng(24)
    x, w, g, d = group_case(rng, kernel=(1, 3, 3), d=(1, 2, 2), n_in=2, n_out=3)
    out, cache = conv.fft_conv_forward(x, w, d)
    grad_in, dw = conv.fft_conv_backward(g, cache, w, d)
    lhs = np.vdot(out, g)
    assert abs(lhs - np.vdot(x, grad_in)) < 1e-12 * abs(lhs)
    assert abs(lhs - np.vdot(w, dw)) < 1e-12 * abs(lhs)


# ---------------------------------------------------------------------------- plans

def test_rfftn_irfftn_match_numpy_and_preserve_input():
    rng = np.random.default_rng(31)
    a = rng.standard_normal((5, 6, 7))
    shape = (6, 8, 9)
    spec = plans.rfftn(a, shape)
    np.testing.assert_allclose(spec, np.fft.rfftn(a, shape, axes=(0, 1, 2)), atol=1e-12)
    kept = spec.copy()
    back = plans.irfftn(spec, shape)
    np.testing.assert_array_equal(spec, kept)  # the c2r scratch copy absorbs FFTW's overwrite
    np.testing.assert_allclose(back[:5, :6, :7], a, atol=1e-12)
    np.testing.assert_allclose(back[5:], 0, atol=1e-12)
    assert plans.rfftn(a.astype(np.float32), shape).dtype == np.complex64


def test_plan_cache_reuses_objects_per_thread():
    p1 = plans.get_plan((4, 6, 8), np.float32, "forward")
    assert plans.get_plan((4, 6, 8), "float32", "forward") is p1
    assert plans.get_plan((4, 6, 8), np.float64, "forward") is not p1
    assert plans.get_plan((4, 6, 8), np.float32, "inverse") is not p1
    other = []
    t = threading.Thread(target=lambda: other.append(plans.get_plan((4, 6, 8), np.float32, "forward")))
    t.start()
    t.join()
    assert other[0] is not p1  # each thread owns its plans and buffers


def test_wisdom_round_trip(tmp_path, monkeypatch):
    monkeypatch.setenv("ZNN_CACHE_DIR", str(tmp_path))
    assert plans.load_wisdom() == {"float32": False, "float64": False}  # nothing saved yet
    plans.get_plan((6, 10, 12), np.float64, "forward")
    written = plans.save_wisdom()
    assert sorted(p.name for p in written) == ["fftw-wisdom-float32", "fftw-wisdom-float64"]
    assert all(p.parent == tmp_path for p in written)
    assert plans.wisdom_path(np.float64).read_bytes().startswith(b"(fftw")
    assert plans.load_wisdom() == {"float32": True, "float64": True}
    (tmp_path / "fftw-wisdom-float64").write_bytes(b"not wisdom \x00\xff")
    assert plans.load_wisdom(["float64"]) == {"float64": False}


def test_cache_dir_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.delenv("ZNN_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert plans.wisdom_path(np.float32) == tmp_path / "znn" / "fftw-wisdom-float32"


def test_measure_effort_gives_same_result():
    rng = np.random.default_rng(33)
    a = rng.standard_normal((3, 5, 6))
    plan = plans.get_plan((4, 6, 6), np.float64, "forward", effort=plans.MEASURE)
    assert plan is not plans.get_plan((4, 6, 6), np.float64, "forward")
    try:
        plans.set_planner_effort(plans.MEASURE)
        measured = plans.rfftn(a, (4, 6, 6))
    finally:
        plans.set_planner_effort(plans.ESTIMATE)
    np.testing.assert_allclose(measured, plans.rfftn(a, (4, 6, 6)), atol=1e-12)
    with pytest.raises(ValueError):
        plans.set_planner_effort("FFTW_FAST")


def test_concurrent_threads_compute_correct_transforms():
    rng = np.random.default_rng(41)
    cases = [(rng.standard_normal((9, 10, 11)), (1, 3, 3), (1, 2, 2)),
             (rng.standard_normal((8, 12, 9)), (3, 3, 3), (1, 1, 1))]
    cases = [(x, rng.standard_normal(k), d) for x, k, d in cases]
    expected = [ref_forward(x, w, d) for x, w, d in cases]
    errors: list[float] = []
    barrier = threading.Barrier(4)

    def work(idx: int) -> None:
        x, w, d = cases[idx % 2]
        barrier.wait()
        for _ in range(20):
            out, _ = conv.fft_conv_forward(x[None], w[None, None], d)
            errors.append(rel_err(out[0], expected[idx % 2]))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(errors) == 80 and max(errors) < 1e-12


def test_measured_plans_persist_wisdom_in_the_user_cache(tmp_path, monkeypatch):
    from znn.fft import plans

    monkeypatch.setenv("ZNN_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(plans, "_wisdom_loaded", False)
    plans.get_plan((6, 10, 14), "float32", "forward", effort=plans.MEASURE)
    assert plans.wisdom_path("float32").stat().st_size > 0
    assert plans._wisdom_loaded
