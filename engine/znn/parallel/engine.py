"""Forward, backward and update of a network as task graphs on the priority scheduler.

Maps of a node group are split into chunks (a few maps each); each edge contributes one
task per chunk, whose work its layer kind does (`EdgeKind.forward/backward`). FFT
convolutions are scheduled per layer instead (`fft_tasks`): per-map transforms,
per-block-range products and per-map inverses, shared by every edge of a bucket.

Priorities follow ZNN (§9.2): in the forward pass later layers outrank earlier ones, in
the backward pass layers nearer the input do, so work that finishes the pass runs first.
Weight updates and kernel-spectrum refreshes are low-priority tasks: `update()` only
queues them; idle workers run them, and the next forward steals any that are still
waiting when a layer needs its weights, so updates overlap the following forward.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import replace
from math import ceil, prod

import numpy as np

from znn.fft import pruned
from znn.layers.base import EdgeWork
from znn.layers.table import edge_kind, node_kind
from znn.netspec.spec import EdgeGroup
from znn.parallel import fft_tasks, gemm_tasks
from znn.parallel.accumulator import Accumulator
from znn.parallel.fft_layer import Bucket, FFTEdge, make_fft_edge
from znn.parallel.gemm_tasks import GemmEdge, make_gemm_edge
from znn.parallel.scheduler import Scheduler, Task
from znn.params.init import tie_kernel_blocks
from znn.passes.state import Gradients, PassState
from znn.passes.update import Hyper, update_bias, update_kernel

CHUNK_VOXELS = 1 << 16  # aim for at least this many voxels per map chunk


def map_chunks(maps: int, voxels_per_map: int, n_threads: int) -> list[tuple[int, int]]:
    per = max(1, ceil(CHUNK_VOXELS / max(1, voxels_per_map)))
    per = min(per, max(1, ceil(maps / (2 * n_threads))))  # keep every thread busy
    return [(a, min(a + per, maps)) for a in range(0, maps, per)]


def overlapping(chunks: list[tuple[int, int]], a: int, b: int) -> list[int]:
    return [k for k, (c0, c1) in enumerate(chunks) if c0 < b and a < c1]


class TaskEngine:
    """Runs the passes of a network on `num_threads` workers (0 = all cores)."""

    def __init__(self, state: PassState, num_threads: int, *, niceness: int = 0) -> None:
        self.state = state
        self.scheduler = Scheduler(num_threads, niceness=niceness)
        self.threads = self.scheduler.num_threads
        graph = state.graph
        self.level = {name: k for k, name in enumerate(graph.order)}
        self.chunks = {name: map_chunks(g.maps, prod(g.size), self.threads) for name, g in graph.nodes.items()}
        self.fft_edges: dict[str, FFTEdge] = {}
        self.gemm_edges: dict[str, GemmEdge] = {}
        buckets: dict[tuple[str, tuple], Bucket] = {}
        for name, mode in state.conv_modes.items():
            if mode == "gemm":
                self.gemm_edges[name] = make_gemm_edge(state, name, self.threads)
            if mode != "fft":
                continue
            geo = graph.edges[name]
            edge = make_fft_edge(name, geo, graph.nodes[geo.source].maps, graph.nodes[geo.target].maps,
                                 self.threads)
            self.fft_edges[name] = edge
            key = (geo.target, geo.in_size)
            if key not in buckets:
                buckets[key] = Bucket(geo.target, geo.in_size, edge.N, geo.span)
            buckets[key].edges.append(edge)
        self.buckets = list(buckets.values())
        self.source_spectra: dict[tuple[str, tuple], np.ndarray] = {}
        self.pending: dict[str, list[Task]] = defaultdict(list)  # group -> queued low tasks
        self.maps: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.saved: dict[str, np.ndarray] = {}  # edge -> forward state (arg-max, dropout)
        self.winners: dict[str, np.ndarray] = {}  # maxout node -> winning edge per voxel
        self.training = False

    def close(self) -> None:
        """Stop the workers and drop the large buffers (maps, spectra)."""
        self.scheduler.close()
        self.maps, self.grads, self.saved, self.winners, self.source_spectra = {}, {}, {}, {}, {}
        for edge in self.fft_edges.values():
            edge.spectra, edge.input_grad, edge.spectra_valid = None, None, False
        for bucket in self.buckets:
            bucket.out_spectra = bucket.grad_spectra = None
        for gemm in self.gemm_edges.values():
            gemm.output = gemm.input_grad = gemm.weights = gemm.wide = None
            gemm.partials = []

    def set_state(self, state: PassState) -> None:
        self.sync()
        self.state = state
        self.invalidate_kernel_spectra()

    def invalidate_kernel_spectra(self) -> None:
        for edge in self.fft_edges.values():
            edge.spectra_valid = False

    def sync(self) -> None:
        """Finish every queued update (parameters are current afterwards)."""
        tasks = [t for ts in self.pending.values() for t in ts]
        self.scheduler.wait(tasks)
        self.pending.clear()

    # ------------------------------------------------------------------ helpers

    def fwd_priority(self, node: str, stage: int) -> int:
        return self.level[node] * 8 + stage

    def bwd_priority(self, node: str, stage: int) -> int:
        return (len(self.level) - self.level[node]) * 8 + stage

    def _buffer(self, name: str, store: dict[str, np.ndarray]) -> np.ndarray:
        g = self.state.graph.nodes[name]
        shape = (g.maps, *g.size)
        a = store.get(name)
        if a is None or a.shape != shape or a.dtype != self.state.dtype:
            a = store[name] = np.empty(shape, dtype=self.state.dtype)
        return a

    def kernel_tasks(self, name: str) -> list[Task]:
        """Low tasks that must finish before edge `name` may read its weights/spectra."""
        needs = list(self.pending.get(name, []))
        edge = self.fft_edges.get(name)
        if edge is not None and self.state.cache_spectra and not edge.spectra_valid and not needs:
            needs = self._refresh_tasks(name, update=None)
        return needs

    def _refresh_tasks(self, name: str, update: tuple | None) -> list[Task]:
        """Low tasks per kernel chunk: optionally apply the update, then re-transform."""
        state = self.state
        kernels = state.params.kernels[name]
        edge = self.fft_edges.get(name)
        if edge is not None and state.cache_spectra:
            edge.spectra = edge.spectra if edge.spectra is not None else pruned.blocked_stack(
                edge.n_in, edge.n_out, edge.N, state.dtype)
            edge.spectra_valid = True  # valid once these tasks have run
        repeat = state.spec.edges[name].effective_repeat
        chunks = [(0, kernels.shape[0] * kernels.shape[1])] if repeat != (1, 1, 1) or edge is None else edge.chunks
        tasks = []
        for a, b in chunks:
            def fn(a: int = a, b: int = b) -> None:
                if update is not None:
                    grad, velocity, second, hyper, voxels = update
                    shape = (-1,) + kernels.shape[2:]
                    update_kernel(kernels.reshape(shape)[a:b], velocity.reshape(shape)[a:b],
                                  grad.reshape(shape)[a:b], hyper, voxels,
                                  None if second is None else second.reshape(shape)[a:b])
                    if repeat != (1, 1, 1):
                        kernels[...] = tie_kernel_blocks(kernels, repeat)
                if edge is not None and state.cache_spectra:
                    edge.refresh(kernels, a, b)
            tasks.append(Task(fn, low=True, name=f"refresh {name}[{a}:{b}]"))
        self.pending[name] = tasks
        self.scheduler.submit(tasks)
        return tasks

    def _layer_level(self, edge: EdgeGroup) -> bool:
        """Conv edges whose mode schedules per layer (FFT buckets, GEMM row blocks), not per
        map chunk."""
        return edge.name in self.fft_edges or edge.name in self.gemm_edges

    # ------------------------------------------------------------------ forward

    def forward(self, inputs: Mapping[str, np.ndarray], *, training: bool, rng: np.random.Generator) -> None:
        state = self.state
        spec, graph = state.spec, state.graph
        self.training = training
        state.allocate_saved(self.saved, self.winners, training)
        state.prepare_edges(self.saved, training, rng)
        for name in graph.order:
            self._buffer(name, self.maps)
        done: dict[str, list[Task | None]] = {}  # node -> finish task per chunk
        tasks: list[Task] = []
        spectra_tasks: dict[tuple[str, tuple], list[Task]] = {}
        for name in graph.order:
            target = self.maps[name]
            chunks = self.chunks[name]
            if state.is_input(name):
                target[...] = inputs[name]
                done[name] = [None] * len(chunks)  # ready before the pass starts
                continue
            node = spec.nodes[name]
            kind = node_kind(node.type)
            accs = [Accumulator(target[a:b], 0) for a, b in chunks]
            contributors: list[list[Task]] = [[] for _ in chunks]

            def contribute(k: int, task: Task, accs: list[Accumulator] = accs,
                           contributors: list[list[Task]] = contributors) -> None:
                contributors[k].append(task)
                accs[k].expected += 1

            if kind.combines_edges:
                for k, (a, b) in enumerate(chunks):
                    t = Task(self._combine_fn(name, a, b, accs[k]), self.fwd_priority(name, 2), name=f"maxout {name}")
                    t.after(*[done[e.input][c] for e in spec.incoming(name)
                              for c in overlapping(self.chunks[e.input], a, b)])
                    contribute(k, t)
            for bucket in [bk for bk in self.buckets if bk.target == name]:
                fft_tasks.forward_tasks(self, bucket, done, spectra_tasks, accs, contribute, tasks)
            for edge in spec.incoming(name):
                if edge.name in self.gemm_edges:
                    gemm_tasks.forward_tasks(self, self.gemm_edges[edge.name],
                                             state.edge_work(edge, self.maps, self.saved, training),
                                             done, accs, contribute, tasks)
                if self._layer_level(edge) or kind.combines_edges:
                    continue
                work = state.edge_work(edge, self.maps, self.saved, training)
                ekind = edge_kind(edge.type)
                for k, (a, b) in enumerate(chunks):
                    t = Task(self._edge_forward_fn(work, a, b, accs[k]), self.fwd_priority(name, 2),
                             name=f"fwd {edge.name}[{a}:{b}]")
                    if ekind.one_to_one:
                        t.after(*[done[edge.input][c] for c in overlapping(self.chunks[edge.input], a, b)])
                    else:
                        t.after(*done[edge.input])
                    if ekind.trainable:
                        t.need(self.kernel_tasks(edge.name))
                    contribute(k, t)
            finishers = []
            for k, (a, b) in enumerate(chunks):
                f = Task(self._finish_forward_fn(name, a, b), self.fwd_priority(name, 3), name=f"finish {name}")
                f.after(*contributors[k])
                if kind.has_bias:
                    f.need(self.pending.get(name, []))
                finishers.append(f)
                tasks.extend(contributors[k])
            tasks.extend(finishers)
            done[name] = list(finishers)
        for ts in spectra_tasks.values():
            tasks.extend(ts)
        self.scheduler.run(tasks)
        for name in [n for n, ts in self.pending.items() if all(t.done for t in ts)]:
            del self.pending[name]

    @staticmethod
    def _edge_forward_fn(work: EdgeWork, a: int, b: int, acc: Accumulator) -> Callable[[], None]:
        kind = edge_kind(work.edge.type)

        def fn() -> None:
            buf = acc.buffer()
            kind.forward(work, a, b, buf)
            acc.add(buf)
        return fn

    def _combine_fn(self, name: str, a: int, b: int, acc: Accumulator) -> Callable[[], None]:
        kind = node_kind(self.state.spec.nodes[name].type)
        sources = [self.maps[e.input] for e in self.state.spec.incoming(name)]

        def fn() -> None:
            buf = acc.buffer()
            kind.combine_forward(sources, a, b, buf, self.winners[name])
            acc.add(buf)
        return fn

    def _finish_forward_fn(self, name: str, a: int, b: int) -> Callable[[], None]:
        node = self.state.spec.nodes[name]
        kind = node_kind(node.type)
        maps, biases = self.maps[name], self.state.params.biases.get(name)

        def fn() -> None:
            kind.finish_forward(node, maps[a:b], None if biases is None else biases[a:b])
        return fn

    # ------------------------------------------------------------------ backward

    def backward(self, output_grads: Mapping[str, np.ndarray]) -> Gradients:
        state = self.state
        spec, graph = state.spec, state.graph
        kernel_grads = {name: np.zeros_like(k) for name, k in state.params.kernels.items()}
        bias_grads: dict[str, np.ndarray] = {}
        tasks: list[Task] = []
        grad_accs: dict[str, list[Accumulator]] = {}
        contributors: dict[str, list[list[Task]]] = {}
        for name in graph.order:
            if state.is_input(name):
                continue
            grad = self._buffer(name, self.grads)
            grad_accs[name] = [Accumulator(grad[a:b], 0) for a, b in self.chunks[name]]
            contributors[name] = [[] for _ in self.chunks[name]]
            if node_kind(spec.nodes[name].type).has_bias:
                bias_grads[name] = np.zeros(graph.nodes[name].maps, dtype=state.dtype)
        for edge in spec.edges.values():  # count contributions first: deposits may start early
            if edge.input in grad_accs:  # every edge sends one gradient per source chunk
                for acc in grad_accs[edge.input]:
                    acc.expected += 1
        for name in spec.output_names:
            for acc in grad_accs[name]:
                acc.expected += 1
        for name in spec.output_names:
            given = np.asarray(output_grads[name], dtype=state.dtype)
            for acc, (a, b) in zip(grad_accs[name], self.chunks[name]):
                buf = acc.buffer()
                buf[...] = given[a:b]
                acc.add(buf)

        for name in reversed(graph.order):
            if state.is_input(name):
                continue
            fins = []
            for k, (a, b) in enumerate(self.chunks[name]):
                f = Task(self._finish_backward_fn(name, a, b, bias_grads), self.bwd_priority(name, 0),
                         name=f"grad {name}")
                f.after(*contributors[name][k])
                fins.append(f)
            tasks.extend(fins)
            for bucket in [bk for bk in self.buckets if bk.target == name]:
                fft_tasks.backward_tasks(self, bucket, fins, grad_accs, contributors, kernel_grads, tasks)
            for index, edge in enumerate(spec.incoming(name)):
                if edge.name in self.gemm_edges:
                    work = replace(state.edge_work(edge, self.maps, self.saved, self.training),
                                   grad=self.grads[name])
                    gemm_tasks.backward_tasks(self, self.gemm_edges[edge.name], work, fins, grad_accs,
                                              contributors, kernel_grads, tasks)
                elif not self._layer_level(edge):
                    self._edge_backward_tasks(edge, index, fins, grad_accs, contributors, kernel_grads, tasks)
        for per_chunk in contributors.values():
            for ts in per_chunk:
                tasks.extend(ts)
        self.scheduler.run(list(dict.fromkeys(tasks)))
        return kernel_grads, bias_grads

    def _finish_backward_fn(self, name: str, a: int, b: int,
                            bias_grads: dict[str, np.ndarray]) -> Callable[[], None]:
        node = self.state.spec.nodes[name]
        kind = node_kind(node.type)
        grads, maps = self.grads[name], self.maps[name]

        def fn() -> None:
            bias_grad = kind.finish_backward(node, grads[a:b], maps[a:b])
            if bias_grad is not None:
                bias_grads[name][a:b] = bias_grad
        return fn

    def _edge_backward_tasks(self, edge: EdgeGroup, index: int, fins: list[Task],
                             grad_accs: dict[str, list[Accumulator]], contributors: dict[str, list[list[Task]]],
                             kernel_grads: dict[str, np.ndarray], tasks: list[Task]) -> None:
        state = self.state
        name = edge.output
        kind = edge_kind(edge.type)
        node = node_kind(state.spec.nodes[name].type)
        work = replace(state.edge_work(edge, self.maps, self.saved, self.training), grad=self.grads[name])
        chunks_t = self.chunks[name]
        if kind.trainable:
            kgrad = kernel_grads[edge.name]
            for k, (a, b) in enumerate(chunks_t):
                def kernel_grad(a: int = a, b: int = b) -> None:
                    kind.kernel_grad(work, a, b, kgrad)
                tasks.append(Task(kernel_grad, self.bwd_priority(name, 2), name=f"kgrad {edge.name}").after(fins[k]))
        if edge.input not in grad_accs:
            return
        winners = self.winners.get(name)
        for k, (a, b) in enumerate(self.chunks[edge.input]):
            acc = grad_accs[edge.input][k]

            def fn(a: int = a, b: int = b, acc: Accumulator = acc) -> None:
                buf = acc.buffer()
                if node.combines_edges:
                    assert winners is not None and work.grad is not None
                    node.combine_backward(work.grad, winners, index, a, b, buf)
                else:
                    kind.backward(work, a, b, buf)
                acc.add(buf)
            t = Task(fn, self.bwd_priority(edge.input, 4), name=f"bwd {edge.name}")
            if kind.one_to_one and not node.combines_edges:
                t.after(*[fins[c] for c in overlapping(chunks_t, a, b)])
            else:
                t.after(*fins)
            contributors[edge.input][k].append(t)

    # ------------------------------------------------------------------ update

    def update(self, kernel_grads: dict[str, np.ndarray], bias_grads: dict[str, np.ndarray],
               hyper_of: Callable[[str], Hyper], patch_voxels: int) -> None:
        """Queue the update of every group as low-priority tasks (they overlap what follows)."""
        params = self.state.params
        for name, grad in kernel_grads.items():
            self._refresh_tasks(name, (grad, params.kernel_momentum[name], params.kernel_second.get(name),
                                       hyper_of(name), patch_voxels))
        for name, grad in bias_grads.items():
            hyper = hyper_of(name)

            def fn(name: str = name, grad: np.ndarray = grad, hyper: Hyper = hyper) -> None:
                update_bias(params.biases[name], params.bias_momentum[name], grad, hyper, patch_voxels,
                            params.bias_second.get(name))
            task = Task(fn, low=True, name=f"update bias {name}")
            self.pending[name] = [task]
            self.scheduler.submit([task])
