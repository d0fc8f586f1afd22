"""New networks in the shapes EM labs train, as ordinary `.znn` text (the dock's *New network…*).

* `boundary-2d`: N4-like. `depth` stages of a convolution and a 2x2 max-filter with stride 2
  (dense output: later kernels are dilated instead of the maps being subsampled), a wide
  convolution, and a 1x1 convolution to 2 linear maps (object, boundary) for softmax_loss.
* `vd2d3d`: VD2D3D-like, single input. `depth` stages of two convolutions and a max-filter, 2-D
  (1xkxk) but for the last stage, whose kernels span two sections; dropout before the output.
* `affinity-3d`: 3-D kernels throughout (kxkxk) as in ZNN's benchmark nets, with dense 2x2x2
  max-filters, and 3 affinity maps (x, y, z) for binomial_cross_entropy (forward_logistics).

`depth` is the number of max-filter stages, `width` the feature maps of the first stage (N4-like
keeps it; the others add half as many again at each stage, as VD2D3D does), `kernel` the
in-plane kernel size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from znn.base.errors import ZnnError

TemplateName = Literal["boundary-2d", "vd2d3d", "affinity-3d"]
TEMPLATES: dict[TemplateName, str] = {
    "boundary-2d": "2-D boundary detector (N4-like): convolution + max-filter stages, 2 maps for softmax",
    "vd2d3d": "2-D/3-D boundary detector (VD2D3D-like): pairs of 3x3 convolutions, 3-D at the end, dropout",
    "affinity-3d": "3-D affinity network: kxkxk kernels, dense 2x2x2 max-filters, 3 affinity maps",
}
LIMITS = {"depth": (1, 6), "width": (1, 512), "kernel": (1, 15)}


@dataclass(frozen=True)
class TemplateChoice:
    name: TemplateName
    depth: int
    width: int
    kernel: int

    def __post_init__(self) -> None:
        if self.name not in TEMPLATES:
            raise ZnnError(f"unknown network template '{self.name}' (one of {', '.join(TEMPLATES)})")
        for key, (low, high) in LIMITS.items():
            value = getattr(self, key)
            if not low <= value <= high:
                raise ZnnError(f"template {key} must lie in [{low}, {high}], not {value}")


DEFAULTS: dict[TemplateName, TemplateChoice] = {
    "boundary-2d": TemplateChoice("boundary-2d", 4, 48, 4),
    "vd2d3d": TemplateChoice("vd2d3d", 3, 24, 3),
    "affinity-3d": TemplateChoice("affinity-3d", 2, 24, 3),
}


class _Writer:
    """Appends groups in the order a person writes them: each edge group before its node group."""

    def __init__(self, comments: list[str]) -> None:
        self.blocks = [["nodes input", *(f"# {c}" for c in comments), "type input", "size 1"]]
        self.last = "input"
        self.maps = 1

    def conv(self, name: str, kernel: tuple[int, int, int], maps: int, function: str, init: str) -> None:
        self.blocks.append([f"edges {name}", "type conv", f"input {self.last}", f"output n{name}",
                            f"size {_t(kernel)}", "stride 1,1,1", f"init {init}"])
        self.blocks.append([f"nodes n{name}", "type transfer", f"size {maps}", f"function {function}"])
        self.last, self.maps = f"n{name}", maps

    def one_to_one(self, name: str, lines: list[str]) -> None:
        self.blocks.append([f"edges {name}", f"type {lines[0]}", f"input {self.last}", f"output n{name}",
                            *lines[1:]])
        self.blocks.append([f"nodes n{name}", "type sum", f"size {self.maps}"])
        self.last = f"n{name}"

    def output(self, maps: int, function: str, init: str) -> str:
        self.blocks.append(["edges conv_out", "type conv", f"input {self.last}", "output output",
                            "size 1,1,1", "stride 1,1,1", f"init {init}"])
        self.blocks.append(["nodes output", "type transfer", f"size {maps}", f"function {function}"])
        return "\n\n".join("\n".join(block) for block in self.blocks) + "\n"


def _t(values: tuple[int, int, int]) -> str:
    return ",".join(map(str, values))


def _stage_maps(width: int, stage: int) -> int:
    return width + (width // 2) * stage


def template_text(choice: TemplateChoice) -> str:
    """The `.znn` text of a template."""
    k, depth = choice.kernel, choice.depth
    summary = [f"{choice.name} template: depth {depth}, width {choice.width}, kernel {k}.",
               f"{TEMPLATES[choice.name]}."]
    if choice.name == "boundary-2d":
        net = _Writer(summary)
        for stage in range(depth):
            net.conv(f"conv{stage + 1}", (1, k, k), choice.width, "rectify_linear", "xavier")
            net.one_to_one(f"pool{stage + 1}", ["max_filter", "size 1,2,2", "stride 1,2,2"])
        net.conv(f"conv{depth + 1}", (1, 3, 3), 4 * choice.width, "rectify_linear", "xavier")
        return net.output(2, "linear", "xavier")
    if choice.name == "vd2d3d":
        net = _Writer(summary)
        for stage in range(depth):
            z = 2 if stage == depth - 1 and depth > 1 else 1
            maps = _stage_maps(choice.width, stage)
            net.conv(f"conv{stage + 1}a", (z, k, k), maps, "rectify_linear", "msra")
            net.conv(f"conv{stage + 1}b", (z, k, k), maps, "rectify_linear", "msra")
            net.one_to_one(f"pool{stage + 1}", ["max_filter", f"size {z},2,2", f"stride {z},2,2"])
        net.conv(f"conv{depth + 1}", (1, k, k), 4 * choice.width, "rectify_linear", "msra")
        net.one_to_one("dropout", ["dropout", "ratio 0.5"])
        return net.output(2, "linear", "msra")
    net = _Writer(summary)
    for stage in range(depth):
        net.conv(f"conv{stage + 1}", (k, k, k), _stage_maps(choice.width, stage), "rectify_linear", "xavier")
        net.one_to_one(f"pool{stage + 1}", ["max_filter", "size 2,2,2", "stride 2,2,2"])
    net.conv(f"conv{depth + 1}", (k, k, k), 2 * choice.width, "rectify_linear", "xavier")
    return net.output(3, "forward_logistics", "xavier")
