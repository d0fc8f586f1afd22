"""Task graphs of the FFT convolutions: spectra, products and inverses per bucket.

A bucket (`fft_layer.Bucket`) is every FFT conv edge into one node from sources of one
extent; they share one transform shape, one product spectrum per target map and, in the
backward pass, one gradient spectrum per target map. The engine asks this module for the
tasks of a bucket and wires them to its own map chunks and accumulators.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np

from znn.fft import products, pruned
from znn.parallel.accumulator import Accumulator
from znn.parallel.fft_layer import (
    Bucket,
    FFTEdge,
    backward_products_uncached,
    block_ranges,
    ensure_stack,
    forward_products_uncached,
)
from znn.parallel.scheduler import Task
from znn.passes.state import PassState

Contribute = Callable[[int, Task], None]


class TaskEngine(Protocol):
    """What the FFT task builders use of the task engine."""

    state: PassState
    threads: int
    maps: dict[str, np.ndarray]
    grads: dict[str, np.ndarray]
    chunks: dict[str, list[tuple[int, int]]]
    source_spectra: dict[tuple[str, tuple], np.ndarray]

    def fwd_priority(self, node: str, stage: int) -> int: ...

    def bwd_priority(self, node: str, stage: int) -> int: ...

    def kernel_tasks(self, name: str) -> list[Task]: ...


def source_spectra(engine: TaskEngine, source: str, N: tuple[int, ...], done: dict[str, list[Task | None]],
                   spectra_tasks: dict[tuple[str, tuple], list[Task]]) -> tuple[np.ndarray, list[Task]]:
    """The spectrum stack of a source node at transform shape N, and the tasks filling it
    (one per map chunk, shared by every bucket that reads the node at that shape)."""
    key = (source, N)
    maps = engine.maps[source]
    stack = engine.source_spectra[key] = ensure_stack(engine.source_spectra.get(key), maps.shape[0], N,
                                                      engine.state.dtype)
    if key not in spectra_tasks:
        tasks = []
        for k, (a, b) in enumerate(engine.chunks[source]):
            def fn(a: int = a, b: int = b) -> None:
                for m in range(a, b):
                    pruned.map_spectrum(maps[m], N, stack, m)
            tasks.append(Task(fn, engine.fwd_priority(source, 7), name=f"spectra {source}").after(done[source][k]))
        spectra_tasks[key] = tasks
    return stack, spectra_tasks[key]


def forward_tasks(engine: TaskEngine, bucket: Bucket, done: dict[str, list[Task | None]],
                  spectra_tasks: dict[tuple[str, tuple], list[Task]], accs: list[Accumulator],
                  contribute: Contribute, tasks: list[Task]) -> None:
    """Products of every edge of the bucket summed per target map, then one inverse per map
    into the node's accumulators."""
    state = engine.state
    name = bucket.target
    n_out = state.graph.nodes[name].maps
    bucket.out_spectra = ensure_stack(bucket.out_spectra, n_out, bucket.N, state.dtype)
    out = bucket.out_spectra
    inputs, deps, needs = [], [], []
    for edge in bucket.edges:
        X, ts = source_spectra(engine, edge.geo.source, bucket.N, done, spectra_tasks)
        inputs.append(X)
        deps.extend(ts)
        needs.extend(engine.kernel_tasks(edge.name))
    product_tasks = []
    if state.cache_spectra:
        for lo, hi in block_ranges(products.n_blocks(out.shape[2]), 2 * engine.threads):
            def cached(lo: int = lo, hi: int = hi) -> None:
                for k, (edge, X) in enumerate(zip(bucket.edges, inputs)):
                    products.forward_products(edge.spectra, X, out, lo, hi, k > 0)
            product_tasks.append(Task(cached, engine.fwd_priority(name, 1), name=f"products {name}"))
    else:
        for a, b in block_ranges(n_out, 2 * engine.threads):
            def uncached(a: int = a, b: int = b) -> None:
                for k, (edge, X) in enumerate(zip(bucket.edges, inputs)):
                    forward_products_uncached(edge, state.params.kernels[edge.name], X, out, a, b, k > 0)
            product_tasks.append(Task(uncached, engine.fwd_priority(name, 1), name=f"products {name}"))
    for t in product_tasks:
        t.after(*deps).need(needs)
    tasks.extend(product_tasks)
    region = bucket.valid_region
    for k, (a, b) in enumerate(engine.chunks[name]):
        acc = accs[k]

        def inverse(a: int = a, b: int = b, acc: Accumulator = acc) -> None:
            buf = acc.buffer()
            for m in range(a, b):
                pruned.map_inverse(out, m, bucket.N, region, buf[m - a])
            acc.add(buf)
        contribute(k, Task(inverse, engine.fwd_priority(name, 2), name=f"inverse {name}").after(*product_tasks))


def backward_tasks(engine: TaskEngine, bucket: Bucket, fins: list[Task], grad_accs: dict[str, list[Accumulator]],
                   contributors: dict[str, list[list[Task]]], kernel_grads: dict[str, np.ndarray],
                   tasks: list[Task]) -> None:
    """Gradient spectra of the target, kernel gradients of every edge, and input-gradient
    products and inverses into each source's accumulators."""
    state = engine.state
    name = bucket.target
    n_out = state.graph.nodes[name].maps
    bucket.grad_spectra = ensure_stack(bucket.grad_spectra, n_out, bucket.N, state.dtype)
    G = bucket.grad_spectra
    origin = tuple(s - 1 for s in bucket.span)
    grad = engine.grads[name]
    g_tasks = []
    for k, (a, b) in enumerate(engine.chunks[name]):
        def spectra(a: int = a, b: int = b) -> None:
            for m in range(a, b):
                pruned.map_spectrum(grad[m], bucket.N, G, m, origin)
        g_tasks.append(Task(spectra, engine.bwd_priority(name, 1), name=f"grad spectra {name}").after(fins[k]))
    tasks.extend(g_tasks)
    for edge in bucket.edges:
        source = edge.geo.source
        X = engine.source_spectra[(source, bucket.N)]
        kgrad = kernel_grads[edge.name]
        for a, b in edge.chunks:
            def gradients(a: int = a, b: int = b, edge: FFTEdge = edge, X: np.ndarray = X,
                          kgrad: np.ndarray = kgrad) -> None:
                edge.gradients(G, X, kgrad, a, b)
            tasks.append(Task(gradients, engine.bwd_priority(name, 2), name=f"kgrad {edge.name}").after(*g_tasks))
        if source not in grad_accs:
            continue
        edge.input_grad = ensure_stack(edge.input_grad, edge.n_in, bucket.N, state.dtype)
        GI = edge.input_grad
        prod_tasks = []
        if state.cache_spectra:
            for lo, hi in block_ranges(products.n_blocks(GI.shape[2]), 2 * engine.threads):
                def gin_cached(lo: int = lo, hi: int = hi, edge: FFTEdge = edge, GI: np.ndarray = GI) -> None:
                    products.backward_products(edge.spectra, G, GI, lo, hi, False)
                prod_tasks.append(Task(gin_cached, engine.bwd_priority(source, 3), name=f"gin {edge.name}"))
        else:
            for a, b in block_ranges(edge.n_in, 2 * engine.threads):
                def gin_uncached(a: int = a, b: int = b, edge: FFTEdge = edge, GI: np.ndarray = GI) -> None:
                    backward_products_uncached(edge, state.params.kernels[edge.name], G, GI, a, b)
                prod_tasks.append(Task(gin_uncached, engine.bwd_priority(source, 3), name=f"gin {edge.name}"))
        for t in prod_tasks:
            t.after(*g_tasks)
        tasks.extend(prod_tasks)
        region = tuple(slice(0, n) for n in bucket.in_size)
        for k, (a, b) in enumerate(engine.chunks[source]):
            acc = grad_accs[source][k]

            def inverse(a: int = a, b: int = b, acc: Accumulator = acc, GI: np.ndarray = GI,
                        region: tuple[slice, ...] = region) -> None:
                buf = acc.buffer()
                for m in range(a, b):
                    pruned.map_inverse(GI, m, bucket.N, region, buf[m - a])
                acc.add(buf)
            contributors[source][k].append(
                Task(inverse, engine.bwd_priority(source, 4), name=f"gin inverse {edge.name}").after(*prod_tasks))
