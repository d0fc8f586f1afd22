"""Geometry of a network for a given output patch: map sizes, dilations, field of view.

Follows ZNN's `stride_pass` and `fov_pass` (reference §1.5, §1.6):
* sparsity flows forward: sigma(target) = sigma(source) * stride of the edge (conv and
  max_filter only), reset to 1 by `dense`; an edge's kernel is dilated by sigma(source);
* field of view and map sizes flow backward from the outputs, which all share `outsz`.
Every size is a (z, y, x) tuple in numpy axis order.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from math import prod

from znn.base.errors import NetworkSpecError
from znn.base.triples import triple
from znn.layers.table import edge_kind, node_kind
from znn.netspec.spec import EdgeGroup, NetSpec
from znn.netspec.validate import topological_order
from znn.netspec.vocabulary import Triple


@dataclass(frozen=True)
class NodeGeometry:
    name: str
    type: str
    maps: int
    sparsity: Triple
    fov: Triple
    size: Triple  # spatial extent of each map for the requested output size

    @property
    def voxels(self) -> int:
        return self.maps * prod(self.size)


@dataclass(frozen=True)
class EdgeGeometry:
    name: str
    type: str
    source: str
    target: str
    kernel: Triple
    dilation: Triple  # = sparsity of the source: kernel taps sit dilation apart
    in_size: Triple
    out_size: Triple
    parameters: int

    @property
    def span(self) -> Triple:
        """Input extent covered by one dilated kernel window."""
        return triple((k - 1) * d + 1 for k, d in zip(self.kernel, self.dilation))


def _mul(a: Triple, b: Triple) -> Triple:
    return (a[0] * b[0], a[1] * b[1], a[2] * b[2])


def _fmt(t: tuple[int, ...]) -> str:
    return "x".join(str(v) for v in t)


def _parse_size(outsz: tuple[int, ...] | list[int] | int) -> Triple:
    if isinstance(outsz, int):
        outsz = (1, outsz, outsz)
    size = tuple(int(v) for v in outsz)
    if len(size) != 3 or min(size) < 1:
        raise NetworkSpecError("output size must be three positive integers z,y,x",
                               key="outsz", expected="e.g. 1,100,100", found=str(outsz))
    return size


class NetworkGraph:
    """Sizes of every map and edge of `spec` for output patches of `outsz`."""

    def __init__(self, spec: NetSpec, outsz: tuple[int, ...] | list[int] | int) -> None:
        self.spec = spec
        self.outsz = _parse_size(outsz)
        order = topological_order(spec)
        if order and isinstance(order[0], list):
            raise NetworkSpecError("the network has a cycle", file=spec.source,
                                   found=" -> ".join(order[0]))
        self.order: list[str] = [name for name in order if isinstance(name, str)]
        self.sparsity = self._sparsity_pass()
        self.fovs, self.sizes = self._fov_pass()
        self.nodes = {
            name: NodeGeometry(name, spec.nodes[name].type, spec.nodes[name].size,
                               self.sparsity[name], self.fovs[name], self.sizes[name])
            for name in self.order
        }
        self.edges = {name: self._edge_geometry(edge) for name, edge in spec.edges.items()}

    # ------------------------------------------------------------------ passes

    def _error(self, message: str, edge: EdgeGroup, **kw: str) -> NetworkSpecError:
        return NetworkSpecError(message, file=self.spec.source, line=edge.line, group=edge.name, **kw)

    def _sparsity_pass(self) -> dict[str, Triple]:
        sigma: dict[str, Triple] = {}
        came_from: dict[str, EdgeGroup] = {}
        for name in self.order:
            node = self.spec.nodes[name]
            if node_kind(node.type).is_input:
                sigma[name] = (1, 1, 1)
            for edge in self.spec.incoming(name):
                value = _mul(sigma[edge.input], edge.effective_stride)
                if node.resets_sparsity:
                    value = (1, 1, 1)
                if name in sigma and sigma[name] != value and not node_kind(node.type).is_input:
                    other = came_from[name]
                    raise self._error(
                        f"converging edges give node '{name}' different sparsity: "
                        f"{_fmt(sigma[name])} through '{other.name}' (line {other.line}) but "
                        f"{_fmt(value)} through '{edge.name}'", edge,
                        expected="branches with the same product of strides", found=_fmt(value))
                sigma[name] = value
                came_from[name] = edge
        return sigma

    def _fov_pass(self) -> tuple[dict[str, Triple], dict[str, Triple]]:
        fov: dict[str, Triple] = {}
        size: dict[str, Triple] = {}
        decided_by: dict[str, EdgeGroup] = {}
        for name in reversed(self.order):
            outgoing = self.spec.outgoing(name)
            if not outgoing:
                fov[name], size[name] = (1, 1, 1), self.outsz
                continue
            for edge in outgoing:
                f, s = self._back_through(edge, fov[edge.output], size[edge.output])
                fov[name] = triple(map(max, fov[name], f)) if name in fov else f
                if name in size and size[name] != s:
                    other = decided_by[name]
                    raise self._error(
                        f"converging paths disagree on the size of '{name}': the path through "
                        f"'{other.name}' (line {other.line}) needs {_fmt(size[name])}, the path "
                        f"through '{edge.name}' needs {_fmt(s)}; the branches must consume the same "
                        "field of view", edge, expected=_fmt(size[name]), found=_fmt(s))
                size[name] = s
                decided_by[name] = edge
        return fov, size

    def _back_through(self, edge: EdgeGroup, fov_b: Triple, size_b: Triple) -> tuple[Triple, Triple]:
        """(fov, size) the source of `edge` needs so that its target gets (fov_b, size_b)."""
        return edge_kind(edge.type).source_extent(edge, fov_b, size_b, self.sparsity[edge.input])

    def _edge_geometry(self, edge: EdgeGroup) -> EdgeGeometry:
        n_in, n_out = self.spec.nodes[edge.input].size, self.spec.nodes[edge.output].size
        params = n_in * n_out * prod(edge.kernel) if edge.is_trainable else 0
        return EdgeGeometry(edge.name, edge.type, edge.input, edge.output, edge.kernel,
                            self.sparsity[edge.input], self.sizes[edge.input],
                            self.sizes[edge.output], params)

    # ------------------------------------------------------------------ summary values

    @property
    def fov(self) -> Triple:
        """Field of view of the network: that of the first input in name order (as ZNN)."""
        return self.fovs[self.spec.input_names[0]]

    @property
    def input_sizes(self) -> dict[str, tuple[int, int, int, int]]:
        """{input name: (maps, z, y, x)} of the input patch needed for `outsz`."""
        return {n: (self.spec.nodes[n].size, *self.sizes[n]) for n in self.spec.input_names}

    @property
    def output_sizes(self) -> dict[str, tuple[int, int, int, int]]:
        return {n: (self.spec.nodes[n].size, *self.sizes[n]) for n in self.spec.output_names}

    @property
    def input_size(self) -> Triple:
        """Spatial input patch of the first input."""
        return self.sizes[self.spec.input_names[0]]

    @cached_property
    def is_dense(self) -> bool:
        """True when every input voxel position yields an output voxel (nothing subsamples)."""
        return all(edge_kind(e.type).dense for e in self.spec.edges.values())

    @property
    def parameter_count(self) -> int:
        return self.spec.parameter_count()

    def output_size_for_input(self, insz: tuple[int, int, int] | list[int]) -> Triple:
        """The output patch that an input patch of `insz` (first input) produces.

        Input size is affine in the output size per axis (in = a*out + b), so two probes
        give a and b. Raises if the field of view does not fit or the size is off-grid.
        """
        wanted = tuple(int(v) for v in insz)
        first = self.spec.input_names[0]
        small = NetworkGraph(self.spec, (1, 1, 1)).sizes[first]
        step = NetworkGraph(self.spec, (2, 2, 2)).sizes[first]
        out = []
        for axis, (want, lo, hi) in enumerate(zip(wanted, small, step)):
            a, b = hi - lo, lo - (hi - lo)
            if want < lo:
                raise NetworkSpecError(
                    f"the network's field of view does not fit: input {_fmt(wanted)} is smaller than "
                    f"the smallest input {_fmt(small)} (one output voxel) on axis {axis}",
                    file=self.spec.source, expected=f"at least {_fmt(small)}", found=_fmt(wanted))
            if (want - b) % a:
                below = (want - b) // a
                raise NetworkSpecError(
                    f"input extent {want} on axis {axis} does not map to a whole output patch",
                    file=self.spec.source,
                    expected=f"{a * below + b} or {a * (below + 1) + b}", found=str(want))
            out.append((want - b) // a)
        return triple(out)
