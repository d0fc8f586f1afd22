"""Forward, backward and update of a Network as task graphs on the priority scheduler.

Maps of a node group are split into chunks (a few maps each) so that one-to-one edges,
transfer functions and transforms become many small tasks; fully connected FFT layers
become per-map transforms, per-block-range products and per-map inverses (`fft_layer`).

Priorities follow ZNN (§9.2): in the forward pass later layers outrank earlier ones, in
the backward pass layers nearer the input do, so work that finishes the pass runs first.
Weight updates and kernel-spectrum refreshes are low-priority tasks: `update()` only
queues them; idle workers run them, and the next forward steals any that are still
waiting when a layer needs its weights, so updates overlap the following forward.
"""

from __future__ import annotations

from collections import defaultdict
from math import ceil, prod
from typing import TYPE_CHECKING

import numpy as np

from znn.fft import pruned
from znn.init import tie_kernel_blocks
from znn.kernels import conv_direct, pooling
from znn.network import edges as ops
from znn.network.update import update_bias, update_kernel
from znn.parallel.accumulator import Accumulator
from znn.parallel.fft_layer import (Bucket, backward_products_uncached, block_ranges, ensure_stack,
                                    forward_products_uncached, make_fft_edge)
from znn.parallel.scheduler import Scheduler, Task
from znn.fft import products

if TYPE_CHECKING:
    from znn.network.net import Network

CHUNK_VOXELS = 1 << 16  # aim for at least this many voxels per map chunk


def map_chunks(maps: int, voxels_per_map: int, n_threads: int) -> list[tuple[int, int]]:
    per = max(1, ceil(CHUNK_VOXELS / max(1, voxels_per_map)))
    per = min(per, max(1, ceil(maps / (2 * n_threads))))  # keep every thread busy
    return [(a, min(a + per, maps)) for a in range(0, maps, per)]


def overlapping(chunks: list[tuple[int, int]], a: int, b: int) -> list[int]:
    return [k for k, (c0, c1) in enumerate(chunks) if c0 < b and a < c1]


class TaskEngine:
    """Runs a Network's passes on `num_threads` workers (0 = all cores)."""

    def __init__(self, net: Network, num_threads: int) -> None:
        self.net = net
        self.scheduler = Scheduler(num_threads)
        self.threads = self.scheduler.num_threads
        graph, spec = net.graph, net.spec
        self.level = {name: k for k, name in enumerate(graph.order)}
        self.chunks = {name: map_chunks(g.maps, prod(g.size), self.threads) for name, g in graph.nodes.items()}
        self.fft_edges = {}
        buckets: dict[tuple[str, tuple], Bucket] = {}
        for name, mode in net.conv_modes.items():
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
        self.memory: dict[str, np.ndarray] = {}  # arg-max indices, dropout masks, maxout winners

    def close(self) -> None:
        """Stop the workers and drop the large buffers (maps, spectra)."""
        self.scheduler.close()
        self.maps, self.grads, self.memory, self.source_spectra = {}, {}, {}, {}
        for edge in self.fft_edges.values():
            edge.spectra, edge.input_grad, edge.spectra_valid = None, None, False
        for bucket in self.buckets:
            bucket.out_spectra = bucket.grad_spectra = None

    def invalidate_kernel_spectra(self) -> None:
        for edge in self.fft_edges.values():
            edge.spectra_valid = False

    def sync(self) -> None:
        """Finish every queued update (parameters are current afterwards)."""
        tasks = [t for ts in self.pending.values() for t in ts]
        self.scheduler.wait(tasks)
        self.pending.clear()

    # ------------------------------------------------------------------ helpers

    def _fwd_priority(self, node: str, stage: int) -> int:
        return self.level[node] * 8 + stage

    def _bwd_priority(self, node: str, stage: int) -> int:
        return (len(self.level) - self.level[node]) * 8 + stage

    def _buffer(self, name: str, store: dict, zeros: bool = False) -> np.ndarray:
        g = self.net.graph.nodes[name]
        shape = (g.maps, *g.size)
        a = store.get(name)
        if a is None or a.shape != shape or a.dtype != self.net.dtype:
            a = store[name] = np.empty(shape, dtype=self.net.dtype)
        if zeros:
            a.fill(0)
        return a

    def _kernel_tasks(self, name: str) -> list[Task]:
        """Low tasks that must finish before edge `name` may read its weights/spectra."""
        needs = list(self.pending.get(name, []))
        edge = self.fft_edges.get(name)
        if edge is not None and self.net.cache_spectra and not edge.spectra_valid and not needs:
            needs = self._refresh_tasks(name, update=None)
        return needs

    def _refresh_tasks(self, name: str, update: tuple | None) -> list[Task]:
        """Low tasks per kernel chunk: optionally apply the update, then re-transform."""
        net = self.net
        kernels = net._params.kernels[name]
        edge = self.fft_edges.get(name)
        if edge is not None and net.cache_spectra:
            edge.spectra = edge.spectra if edge.spectra is not None else pruned.blocked_stack(
                edge.n_in, edge.n_out, edge.N, net.dtype)
            edge.spectra_valid = True  # valid once these tasks have run
        repeat = net.spec.edges[name].effective_repeat
        chunks = [(0, kernels.shape[0] * kernels.shape[1])] if repeat != (1, 1, 1) or edge is None else edge.chunks
        tasks = []
        for a, b in chunks:
            def fn(a=a, b=b) -> None:
                if update is not None:
                    grad, velocity, hyper, voxels = update
                    shape = (-1,) + kernels.shape[2:]
                    update_kernel(kernels.reshape(shape)[a:b], velocity.reshape(shape)[a:b],
                                  grad.reshape(shape)[a:b], hyper, voxels)
                    if repeat != (1, 1, 1):
                        kernels[...] = tie_kernel_blocks(kernels, repeat)
                if edge is not None and net.cache_spectra:
                    edge.refresh(kernels, a, b)
            tasks.append(Task(fn, low=True, name=f"refresh {name}[{a}:{b}]"))
        self.pending[name] = tasks
        self.scheduler.submit(tasks)
        return tasks

    # ------------------------------------------------------------------ forward

    def forward(self, inputs: dict[str, np.ndarray]) -> None:
        net, graph, spec = self.net, self.net.graph, self.net.spec
        done: dict[str, list[Task]] = {}  # node -> finish task per chunk
        tasks: list[Task] = []
        spectra_tasks: dict[tuple[str, tuple], list[Task]] = {}
        for name in graph.order:
            node = spec.nodes[name]
            target = self._buffer(name, self.maps)
            chunks = self.chunks[name]
            if node.type == "input":
                target[...] = inputs[name]
                done[name] = [None] * len(chunks)  # ready before the pass starts
                continue
            accs = [Accumulator(target[a:b], 0) for a, b in chunks]
            contributors: list[list[Task]] = [[] for _ in chunks]

            def contribute(k: int, task: Task) -> None:
                contributors[k].append(task)
                accs[k].expected += 1

            if node.type == "maxout":
                for k, (a, b) in enumerate(chunks):
                    t = Task(self._maxout_fn(name, a, b, accs[k]), self._fwd_priority(name, 2), name=f"maxout {name}")
                    t.after(*[done[e.input][c] for e in spec.incoming(name)
                               for c in overlapping(self.chunks[e.input], a, b)])
                    contribute(k, t)
            for bucket in [bk for bk in self.buckets if bk.target == name]:
                self._fft_forward_tasks(bucket, done, spectra_tasks, accs, contribute, tasks)
            for edge in spec.incoming(name):
                if edge.type == "conv" and net.conv_modes[edge.name] == "fft" or node.type == "maxout":
                    continue
                for k, (a, b) in enumerate(chunks):
                    t = Task(self._edge_forward_fn(edge, a, b, accs[k]), self._fwd_priority(name, 2),
                             name=f"fwd {edge.name}[{a}:{b}]")
                    if edge.type == "conv":
                        t.after(*done[edge.input]).need(self._kernel_tasks(edge.name))
                    else:
                        t.after(*[done[edge.input][c] for c in overlapping(self.chunks[edge.input], a, b)])
                    contribute(k, t)
            finishers = []
            for k, (a, b) in enumerate(chunks):
                f = Task(self._finish_forward_fn(name, a, b), self._fwd_priority(name, 3), name=f"finish {name}")
                f.after(*contributors[k])
                if node.type == "transfer":
                    f.need(self.pending.get(name, []))
                finishers.append(f)
                tasks.extend(contributors[k])
            tasks.extend(finishers)
            done[name] = finishers
        for ts in spectra_tasks.values():
            tasks.extend(ts)
        self.scheduler.run(tasks)
        for name in [n for n, ts in self.pending.items() if all(t.done for t in ts)]:
            del self.pending[name]

    def _source_spectra(self, source: str, N: tuple, done: dict, spectra_tasks: dict) -> tuple[np.ndarray, list[Task]]:
        key = (source, N)
        maps = self.maps[source]
        stack = self.source_spectra[key] = ensure_stack(self.source_spectra.get(key), maps.shape[0], N,
                                                        self.net.dtype)
        if key not in spectra_tasks:
            ts = []
            for k, (a, b) in enumerate(self.chunks[source]):
                def fn(a=a, b=b) -> None:
                    for m in range(a, b):
                        pruned.map_spectrum(maps[m], N, stack, m)
                ts.append(Task(fn, self._fwd_priority(source, 7), name=f"spectra {source}").after(done[source][k]))
            spectra_tasks[key] = ts
        return stack, spectra_tasks[key]

    def _fft_forward_tasks(self, bucket: Bucket, done, spectra_tasks, accs, contribute, tasks) -> None:
        net = self.net
        name = bucket.target
        n_out = net.graph.nodes[name].maps
        bucket.out_spectra = ensure_stack(bucket.out_spectra, n_out, bucket.N, net.dtype)
        out = bucket.out_spectra
        inputs, deps, needs = [], [], []
        for edge in bucket.edges:
            X, ts = self._source_spectra(edge.geo.source, bucket.N, done, spectra_tasks)
            inputs.append(X)
            deps.extend(ts)
            needs.extend(self._kernel_tasks(edge.name))
        nb = products.n_blocks(out.shape[2])
        products_tasks = []
        if net.cache_spectra:
            for lo, hi in block_ranges(nb, 2 * self.threads):
                def fn(lo=lo, hi=hi) -> None:
                    for k, (edge, X) in enumerate(zip(bucket.edges, inputs)):
                        products.forward_products(edge.spectra, X, out, lo, hi, k > 0)
                products_tasks.append(Task(fn, self._fwd_priority(name, 1), name=f"products {name}"))
        else:
            for a, b in block_ranges(n_out, 2 * self.threads):
                def fn(a=a, b=b) -> None:
                    for k, (edge, X) in enumerate(zip(bucket.edges, inputs)):
                        forward_products_uncached(edge, net._params.kernels[edge.name], X, out, a, b, k > 0)
                products_tasks.append(Task(fn, self._fwd_priority(name, 1), name=f"products {name}"))
        for t in products_tasks:
            t.after(*deps).need(needs)
        tasks.extend(products_tasks)
        region = bucket.valid_region
        for k, (a, b) in enumerate(self.chunks[name]):
            acc = accs[k]

            def fn(a=a, b=b, acc=acc) -> None:
                buf = acc.buffer()
                for m in range(a, b):
                    pruned.map_inverse(out, m, bucket.N, region, buf[m - a])
                acc.add(buf)
            contribute(k, Task(fn, self._fwd_priority(name, 2), name=f"inverse {name}").after(*products_tasks))

    def _edge_forward_fn(self, edge, a: int, b: int, acc: Accumulator):  # noqa: ANN001, ANN202
        net = self.net
        geo = net.graph.edges[edge.name]
        src = self.maps[edge.input]

        def fn() -> None:
            buf = acc.buffer()
            if edge.type == "conv":
                buf.fill(0)
                ops.direct_conv_forward(src, net._params.kernels[edge.name][:, a:b], geo, buf)
            elif edge.type in ("max_filter", "max_pool"):
                idx = self._memory(edge.name, (src.shape[0], *geo.out_size), np.int64)
                size = np.array(geo.kernel, dtype=np.int64)
                for m in range(a, b):
                    if edge.type == "max_filter":
                        pooling.max_filter_forward(src[m], size, np.array(geo.dilation, dtype=np.int64),
                                                   buf[m - a], idx[m])
                    else:
                        pooling.max_pool_forward(src[m], size, buf[m - a], idx[m])
            elif edge.type == "dropout":
                if net.phase == "train":
                    mask = self.memory[edge.name]
                    np.multiply(src[a:b], mask[a:b], out=buf)
                else:
                    buf[...] = src[a:b]
            elif edge.type == "crop":
                oz, oy, ox = edge.effective_offset
                z, y, x = src.shape[1:]
                buf[...] = src[a:b, oz:z - oz, oy:y - oy, ox:x - ox]
            else:  # dummy
                buf[...] = src[a:b]
            acc.add(buf)
        return fn

    def _memory(self, key: str, shape: tuple, dtype: type) -> np.ndarray:
        a = self.memory.get(key)
        if a is None or a.shape != shape:
            a = self.memory[key] = np.empty(shape, dtype=dtype)
        return a

    def _maxout_fn(self, name: str, a: int, b: int, acc: Accumulator):  # noqa: ANN202
        incoming = self.net.spec.incoming(name)

        def fn() -> None:
            stacked = np.stack([self.maps[e.input][a:b] for e in incoming])
            winner = np.argmax(stacked, axis=0)  # ties: the first edge in file order wins
            self._memory(name, self.maps[name].shape, np.int64)[a:b] = winner
            buf = acc.buffer()
            buf[...] = np.take_along_axis(stacked, winner[None], axis=0)[0]
            acc.add(buf)
        return fn

    def _finish_forward_fn(self, name: str, a: int, b: int):  # noqa: ANN202
        node = self.net.spec.nodes[name]
        if node.type != "transfer":
            return lambda: None

        def fn() -> None:
            ops.transfer_forward(node.function, node.effective_function_args, self.maps[name][a:b],
                                 self.net._params.biases[name][a:b])
        return fn

    def draw_dropout_masks(self) -> None:
        """Masks are drawn on the calling thread, in file order: runs are reproducible."""
        net = self.net
        for edge in net.spec.edges.values():
            if edge.type == "dropout" and net.phase == "train":
                g = net.graph.nodes[edge.input]
                shape = (g.maps, *g.size)
                self.memory[edge.name] = ops.dropout_mask(tuple(shape), edge.effective_ratio, net.rng, net.dtype)

    # ------------------------------------------------------------------ backward

    def backward(self, output_grads: dict[str, np.ndarray]) -> tuple[dict, dict]:
        net, graph, spec = self.net, self.net.graph, self.net.spec
        kernel_grads = {name: np.zeros_like(net._params.kernels[name]) for name, e in spec.edges.items()
                        if e.type == "conv"}
        bias_grads: dict[str, np.ndarray] = {}
        tasks: list[Task] = []
        grad_accs: dict[str, list[Accumulator]] = {}
        contributors: dict[str, list[list[Task]]] = {}
        for name in graph.order:
            if spec.nodes[name].type == "input":
                continue
            grad = self._buffer(name, self.grads)
            grad_accs[name] = [Accumulator(grad[a:b], 0) for a, b in self.chunks[name]]
            contributors[name] = [[] for _ in self.chunks[name]]
            if spec.nodes[name].type == "transfer":
                bias_grads[name] = np.zeros(graph.nodes[name].maps, dtype=net.dtype)
        for edge in spec.edges.values():  # count contributions first: deposits may start early
            if edge.input in grad_accs:  # every edge sends one gradient per source chunk
                for acc in grad_accs[edge.input]:
                    acc.expected += 1
        for name in spec.output_names:
            for acc in grad_accs[name]:
                acc.expected += 1
        for name in spec.output_names:
            given = np.asarray(output_grads[name], dtype=net.dtype)
            for acc, (a, b) in zip(grad_accs[name], self.chunks[name]):
                buf = acc.buffer()
                buf[...] = given[a:b]
                acc.add(buf)

        finished: dict[str, list[Task]] = {}
        for name in reversed(graph.order):
            node = spec.nodes[name]
            if node.type == "input":
                continue
            fins = []
            for k, (a, b) in enumerate(self.chunks[name]):
                f = Task(self._finish_backward_fn(name, a, b, bias_grads), self._bwd_priority(name, 0),
                         name=f"grad {name}")
                f.after(*contributors[name][k])
                fins.append(f)
            finished[name] = fins
            tasks.extend(fins)
            for bucket in [bk for bk in self.buckets if bk.target == name]:
                self._fft_backward_tasks(bucket, fins, grad_accs, contributors, kernel_grads, tasks)
            for edge in spec.incoming(name):
                if edge.type == "conv" and net.conv_modes[edge.name] == "fft":
                    continue
                self._edge_backward_tasks(edge, fins, grad_accs, contributors, kernel_grads, tasks)
        for name, per_chunk in contributors.items():
            for ts in per_chunk:
                tasks.extend(ts)
        self.scheduler.run(list(dict.fromkeys(tasks)))
        return kernel_grads, bias_grads

    def _finish_backward_fn(self, name: str, a: int, b: int, bias_grads: dict):  # noqa: ANN202
        node = self.net.spec.nodes[name]
        if node.type != "transfer":
            return lambda: None

        def fn() -> None:
            grad = self.grads[name][a:b]
            ops.transfer_backward(node.function, node.effective_function_args, grad, self.maps[name][a:b])
            bias_grads[name][a:b] = grad.sum(axis=(1, 2, 3))
        return fn

    def _fft_backward_tasks(self, bucket: Bucket, fins, grad_accs, contributors, kernel_grads, tasks) -> None:
        net = self.net
        name = bucket.target
        n_out = net.graph.nodes[name].maps
        bucket.grad_spectra = ensure_stack(bucket.grad_spectra, n_out, bucket.N, net.dtype)
        G = bucket.grad_spectra
        origin = tuple(s - 1 for s in bucket.span)
        grad = self.grads[name]
        g_tasks = []
        for k, (a, b) in enumerate(self.chunks[name]):
            def fn(a=a, b=b) -> None:
                for m in range(a, b):
                    pruned.map_spectrum(grad[m], bucket.N, G, m, origin)
            g_tasks.append(Task(fn, self._bwd_priority(name, 1), name=f"grad spectra {name}").after(fins[k]))
        tasks.extend(g_tasks)
        for edge in bucket.edges:
            source = edge.geo.source
            X = self.source_spectra[(source, bucket.N)]
            kgrad = kernel_grads[edge.name]
            for a, b in edge.chunks:
                def fn(a=a, b=b, edge=edge, X=X, kgrad=kgrad) -> None:
                    edge.gradients(G, X, kgrad, a, b)
                tasks.append(Task(fn, self._bwd_priority(name, 2), name=f"kgrad {edge.name}").after(*g_tasks))
            if source not in grad_accs:
                continue
            edge.input_grad = ensure_stack(edge.input_grad, edge.n_in, bucket.N, net.dtype)
            GI = edge.input_grad
            prod_tasks = []
            nb = products.n_blocks(GI.shape[2])
            if net.cache_spectra:
                for lo, hi in block_ranges(nb, 2 * self.threads):
                    def fn(lo=lo, hi=hi, edge=edge, GI=GI) -> None:
                        products.backward_products(edge.spectra, G, GI, lo, hi, False)
                    prod_tasks.append(Task(fn, self._bwd_priority(source, 3), name=f"gin {edge.name}"))
            else:
                for a, b in block_ranges(edge.n_in, 2 * self.threads):
                    def fn(a=a, b=b, edge=edge, GI=GI) -> None:
                        backward_products_uncached(edge, net._params.kernels[edge.name], G, GI, a, b)
                    prod_tasks.append(Task(fn, self._bwd_priority(source, 3), name=f"gin {edge.name}"))
            for t in prod_tasks:
                t.after(*g_tasks)
            tasks.extend(prod_tasks)
            region = tuple(slice(0, n) for n in bucket.in_size)
            for k, (a, b) in enumerate(self.chunks[source]):
                acc = grad_accs[source][k]

                def fn(a=a, b=b, acc=acc, GI=GI) -> None:
                    buf = acc.buffer()
                    for m in range(a, b):
                        pruned.map_inverse(GI, m, bucket.N, region, buf[m - a])
                    acc.add(buf)
                contributors[source][k].append(
                    Task(fn, self._bwd_priority(source, 4), name=f"gin inverse {edge.name}").after(*prod_tasks))

    def _edge_backward_tasks(self, edge, fins, grad_accs, contributors, kernel_grads, tasks) -> None:  # noqa: ANN001
        net = self.net
        name = edge.output
        geo = net.graph.edges[edge.name]
        src = self.maps[edge.input]
        grad = self.grads[name]
        chunks_t = self.chunks[name]
        if edge.type == "conv":
            kernels = net._params.kernels[edge.name]
            kgrad = kernel_grads[edge.name]
            dilation = np.array(geo.dilation, dtype=np.int64)
            for k, (a, b) in enumerate(chunks_t):
                def fn(a=a, b=b) -> None:
                    if geo.kernel == (1, 1, 1):
                        kgrad[:, a:b, 0, 0, 0] = np.tensordot(src, grad[a:b], axes=((1, 2, 3), (1, 2, 3)))
                        return
                    for j in range(a, b):
                        for i in range(kernels.shape[0]):
                            conv_direct.conv_kernel_grad_add(src[i], grad[j], dilation, kgrad[i, j])
                tasks.append(Task(fn, self._bwd_priority(name, 2), name=f"kgrad {edge.name}").after(fins[k]))
        if edge.input not in grad_accs:
            return
        for k, (a, b) in enumerate(self.chunks[edge.input]):
            acc = grad_accs[edge.input][k]
            fn = self._edge_backward_fn(edge, geo, a, b, acc)
            t = Task(fn, self._bwd_priority(edge.input, 4), name=f"bwd {edge.name}")
            if edge.type == "conv" or net.spec.nodes[name].type == "maxout":
                t.after(*fins)
            else:
                t.after(*[fins[c] for c in overlapping(chunks_t, a, b)])
            contributors[edge.input][k].append(t)

    def _edge_backward_fn(self, edge, geo, a: int, b: int, acc: Accumulator):  # noqa: ANN001, ANN202
        net = self.net
        grad = self.grads[edge.output]

        def fn() -> None:
            buf = acc.buffer()
            if net.spec.nodes[edge.output].type == "maxout":
                k = [e.name for e in net.spec.incoming(edge.output)].index(edge.name)
                winner = self.memory[edge.output][a:b]
                np.copyto(buf, np.where(winner == k, grad[a:b], 0))
            elif edge.type == "conv":
                kernels = net._params.kernels[edge.name]
                buf.fill(0)
                if geo.kernel == (1, 1, 1):
                    buf += np.tensordot(kernels[a:b, :, 0, 0, 0], grad, axes=(1, 0))
                else:
                    dilation = np.array(geo.dilation, dtype=np.int64)
                    for i in range(a, b):
                        for j in range(kernels.shape[1]):
                            conv_direct.conv_input_grad_add(grad[j], kernels[i, j], dilation, buf[i - a])
            elif edge.type in ("max_filter", "max_pool"):
                buf.fill(0)
                idx = self.memory[edge.name]
                for m in range(a, b):
                    pooling.max_filter_backward_add(grad[m], idx[m], buf[m - a])
            elif edge.type == "dropout":
                if net.phase == "train":
                    np.multiply(grad[a:b], self.memory[edge.name][a:b], out=buf)
                else:
                    buf[...] = grad[a:b]
            elif edge.type == "crop":
                buf.fill(0)
                oz, oy, ox = edge.effective_offset
                z, y, x = buf.shape[1:]
                buf[:, oz:z - oz, oy:y - oy, ox:x - ox] = grad[a:b]
            else:  # dummy
                buf[...] = grad[a:b]
            acc.add(buf)
        return fn

    # ------------------------------------------------------------------ update

    def update(self, kernel_grads: dict, bias_grads: dict, hyper_of, patch_voxels: int) -> None:  # noqa: ANN001
        """Queue the update of every group as low-priority tasks (they overlap what follows)."""
        net = self.net
        for name, grad in kernel_grads.items():
            self._refresh_tasks(name, (grad, net._params.kernel_momentum[name], hyper_of(name), patch_voxels))
        for name, grad in bias_grads.items():
            hyper = hyper_of(name)

            def fn(name=name, grad=grad, hyper=hyper) -> None:
                update_bias(net._params.biases[name], net._params.bias_momentum[name], grad, hyper, patch_voxels)
            task = Task(fn, low=True, name=f"update bias {name}")
            self.pending[name] = [task]
            self.scheduler.submit([task])
