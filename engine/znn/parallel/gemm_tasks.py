"""Task graphs of the GEMM convolutions: one product per block of rows.

A conv layer's maps are too few to split its products by (N4 has 48), so a GEMM edge is
split by blocks of whole rows of its maps instead (`layers.conv_gemm.row_blocks`):

* forward: one task per block of target rows writes every target map of those rows
  (straight into the node's maps when this edge is its only contribution, otherwise into
  the edge's own buffer, deposited per map chunk afterwards);
* input gradient: one task per block of source rows, likewise into the source's gradient
  or a buffer deposited per chunk;
* kernel gradient: one task per block of target rows gives a partial product; one more
  task sums them into the kernel gradient.

The forward matrix (kernels flipped and transposed) is built once per pass, after the
weights' pending update.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from znn.kernels import conv_gemm
from znn.layers.base import EdgeWork
from znn.layers.conv_gemm import (
    Block,
    WideGradient,
    forward_block,
    forward_blocks,
    forward_weights,
    input_grad_block,
    input_grad_blocks,
    kernel_grad_block,
    kernel_grad_result,
    kernel_grad_shape,
    limit_blas_threads,
)
from znn.layers.table import node_kind
from znn.parallel.accumulator import Accumulator
from znn.parallel.scheduler import Task
from znn.passes.state import PassState

Contribute = Callable[[int, Task], None]


class TaskEngine(Protocol):
    """What the GEMM task builders use of the task engine."""

    state: PassState
    threads: int
    maps: dict[str, np.ndarray]
    grads: dict[str, np.ndarray]
    chunks: dict[str, list[tuple[int, int]]]

    def fwd_priority(self, node: str, stage: int) -> int: ...

    def bwd_priority(self, node: str, stage: int) -> int: ...

    def kernel_tasks(self, name: str) -> list[Task]: ...


@dataclass
class GemmEdge:
    """One GEMM conv edge group of the task engine and the buffers it keeps between passes."""

    name: str
    out_blocks: list[Block]  # rows of the target maps
    in_blocks: list[Block]  # rows of the source maps
    sole_forward: bool  # the only contribution to its target: write the target directly
    sole_backward: bool  # the only gradient its source receives: write that directly
    weights: np.ndarray | None = None  # forward weights of this pass
    output: np.ndarray | None = None  # target-shaped buffer unless sole_forward
    input_grad: np.ndarray | None = None  # source-shaped buffer unless sole_backward
    wide: WideGradient | None = None  # the output gradient at the source's row width (both gradients)
    partials: list[np.ndarray] = field(default_factory=list)


def make_gemm_edge(state: PassState, name: str, n_threads: int) -> GemmEdge:
    spec, graph = state.spec, state.graph
    edge, geo = spec.edges[name], graph.edges[name]
    target = spec.nodes[edge.output]
    sole_forward = len(spec.incoming(edge.output)) == 1 and not node_kind(target.type).combines_edges
    sole_backward = len(spec.outgoing(edge.input)) == 1 and edge.input not in spec.output_names
    limit_blas_threads()
    return GemmEdge(name, forward_blocks(geo, n_threads), input_grad_blocks(geo, n_threads), sole_forward,
                    sole_backward)


def _buffer(current: np.ndarray | None, like: np.ndarray) -> np.ndarray:
    if current is None or current.shape != like.shape or current.dtype != like.dtype:
        return np.empty_like(like)
    return current


def forward_tasks(engine: TaskEngine, gemm: GemmEdge, work: EdgeWork, done: dict[str, list[Task | None]],
                  accs: list[Accumulator], contribute: Contribute, tasks: list[Task]) -> None:
    target = work.edge.output
    maps = engine.maps[target]
    out = maps if gemm.sole_forward else _buffer(gemm.output, maps)
    gemm.output = None if gemm.sole_forward else out
    kernels = work.kernels
    assert kernels is not None

    def prepare() -> None:
        gemm.weights = forward_weights(kernels)
    prep = Task(prepare, engine.fwd_priority(target, 1), name=f"gemm-weights {gemm.name}")
    prep.need(engine.kernel_tasks(gemm.name))
    blocks = []
    for block in gemm.out_blocks:
        def compute(block: Block = block) -> None:
            assert gemm.weights is not None
            forward_block(work, gemm.weights, block, out, False)
        blocks.append(Task(compute, engine.fwd_priority(target, 2), name=f"gemm-fwd {gemm.name}")
                      .after(prep, *done[work.edge.input]))
    tasks.append(prep)
    tasks.extend(blocks)
    for k, (a, b) in enumerate(engine.chunks[target]):
        acc = accs[k]

        def deposit(a: int = a, b: int = b, acc: Accumulator = acc) -> None:
            acc.add(acc.target if gemm.sole_forward else out[a:b])  # sole: already in place
        contribute(k, Task(deposit, engine.fwd_priority(target, 2), name=f"gemm-out {gemm.name}").after(*blocks))


def backward_tasks(engine: TaskEngine, gemm: GemmEdge, work: EdgeWork, fins: list[Task],
                   grad_accs: dict[str, list[Accumulator]], contributors: dict[str, list[list[Task]]],
                   kernel_grads: dict[str, np.ndarray], tasks: list[Task]) -> None:
    target, source = work.edge.output, work.edge.input
    grad, kernels = work.grad, work.kernels
    assert grad is not None and kernels is not None
    geo = work.geo
    need_input_grad = source in grad_accs
    gemm.wide = wide = WideGradient.for_gradient(grad, geo, gemm.wide)
    preps = []
    for k, (a, b) in enumerate(engine.chunks[target]):
        def prepare(a: int = a, b: int = b) -> None:
            wide.fill(grad, a, b)
        preps.append(Task(prepare, engine.bwd_priority(target, 1), name=f"gemm-grads {gemm.name}").after(fins[k]))
    tasks.extend(preps)

    shape = kernel_grad_shape(geo, work.src.shape[0], grad.shape[0])
    if len(gemm.partials) != len(gemm.out_blocks) or gemm.partials[0].shape != shape \
            or gemm.partials[0].dtype != grad.dtype:
        gemm.partials = [np.empty(shape, dtype=grad.dtype) for _ in gemm.out_blocks]
    partial_tasks = []
    for block, partial in zip(gemm.out_blocks, gemm.partials):
        def kernel_grad(block: Block = block, partial: np.ndarray = partial) -> None:
            kernel_grad_block(work, wide, block, partial)
        partial_tasks.append(Task(kernel_grad, engine.bwd_priority(target, 2), name=f"gemm-kgrad {gemm.name}")
                             .after(*preps))
    kgrad = kernel_grads[gemm.name]

    def reduce() -> None:
        total = gemm.partials[0].copy()
        for partial in gemm.partials[1:]:
            total += partial
        kgrad[...] = kernel_grad_result(total, geo, work.src.shape[0])
    tasks.extend(partial_tasks)
    tasks.append(Task(reduce, engine.bwd_priority(target, 2), name=f"gemm-ksum {gemm.name}").after(*partial_tasks))
    if not need_input_grad:
        return
    grads = engine.grads[source]
    out = grads if gemm.sole_backward else _buffer(gemm.input_grad, grads)
    gemm.input_grad = None if gemm.sole_backward else out
    weights = conv_gemm.forward_weights(kernels)  # per tap, also for layers whose forward unrolls
    blocks = []
    for block in gemm.in_blocks:
        def input_grad(block: Block = block) -> None:
            input_grad_block(work, weights, wide, block, out, False)
        blocks.append(Task(input_grad, engine.bwd_priority(source, 3), name=f"gemm-gin {gemm.name}").after(*preps))
    tasks.extend(blocks)
    for k, (a, b) in enumerate(engine.chunks[source]):
        acc = grad_accs[source][k]

        def deposit(a: int = a, b: int = b, acc: Accumulator = acc) -> None:
            acc.add(acc.target if gemm.sole_backward else out[a:b])
        contributors[source][k].append(
            Task(deposit, engine.bwd_priority(source, 4), name=f"gemm-ginout {gemm.name}").after(*blocks))
