"""What `znn bench` measures: networks with output sizes, thread counts and conv modes.

One `Config` is one measurement in its own process: one network at one output size, one
thread count, and either our engine in one conv mode or the PyTorch peer.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from math import prod
from typing import Literal

from znn.base.cores import usable_cores
from znn.base.errors import ZnnError
from znn.base.modes import ConvMode
from znn.netspec.vocabulary import Triple

# Seconds the warm-up update may take before a configuration is skipped. 40 s lets PyTorch
# on 3d_7 (about 15-25 s per update on 2 cores) be timed rather than bounded; direct mode
# gets a short cap and a cost-model pre-check (runner.model_skip) instead.
DEFAULT_CAP_S = 40.0
DIRECT_CAP_S = 10.0  # direct mode on the 3-D nets takes minutes: give up on it early
SETUP_CAP_FACTOR = 3.0
SETUP_PHASES = ("building the network", "the first forward pass")  # limited by setup_cap_s
WARMUP_PHASE = "the warm-up update"  # limited by the cap itself
ENGINE_OURS = "znn"
ENGINE_PEER = "torch"
OUR_MODES: tuple[ConvMode, ...] = ("fft", "direct", "optimize")
PEER_MODE = "torch"  # the peer has a single mode; the label keeps rows uniform


@dataclass(frozen=True)
class Case:
    """A network (bundled name or .znn path) and the output patch it is timed on."""

    net: str
    outsz: Triple
    primary: bool = True  # False: a larger size, timed at all cores only (fft, optimize, peer)

    @property
    def label(self) -> str:
        return "x".join(str(v) for v in self.outsz)

    @property
    def voxels(self) -> int:
        return prod(self.outsz)


# ZNN's benchmark nets at its default 9^3 output plus one larger output each, and the 2-D
# nets EM labs train (N4, N4_affinity, VD2D, VD2D3D) at the 1x100x100 patch of ZNN's shipped
# job files. Larger outputs: 3d_3 at 17^3 (input 106^3), 3d_5 at 13^3 (input 128^3), 3d_7
# only at 11^3 (input 158^3): on 2 cores one 3d_7 update already takes seconds at 9^3, and
# the 3-D nets' cached kernel spectra take 3-8 GiB. To keep `make bench` within 20 minutes
# on 2 cores, `optimize` (what a user runs) is timed at every thread count with the peer
# beside it (the speedup columns), the single modes (fft, direct) at all cores only, and the
# larger sizes at all cores only.
DEFAULT_CASES: tuple[Case, ...] = (
    Case("N4", (1, 100, 100)),
    Case("N4_affinity", (1, 100, 100)),
    Case("VD2D", (1, 100, 100)),
    Case("VD2D3D", (1, 100, 100)),
    Case("3d_3", (9, 9, 9)),
    Case("3d_3", (17, 17, 17), primary=False),
    Case("3d_5", (9, 9, 9)),
    Case("3d_5", (13, 13, 13), primary=False),
    Case("3d_7", (9, 9, 9)),
    Case("3d_7", (11, 11, 11), primary=False),
)

# `--quick`: one 3-D and one 2-D net at their smallest default sizes, for smoke tests.
QUICK_CASES: tuple[Case, ...] = (
    Case("3d_3", (9, 9, 9)),
    Case("N4", (1, 100, 100)),
)




def default_threads(quick: bool) -> list[int]:
    """1 and all cores (only all cores with --quick)."""
    cores = usable_cores()
    if quick:
        return [cores]
    return sorted({1, cores})


def cases_for(nets: list[str] | None, outsz: Triple | None, quick: bool) -> list[Case]:
    """The cases of `--nets`/`--outsz`: named nets at their default sizes unless outsz is given."""
    table = QUICK_CASES if quick else DEFAULT_CASES
    if not nets:
        if outsz is None:
            return list(table)
        nets = list(dict.fromkeys(case.net for case in table))
    if outsz is not None:
        return [Case(net, outsz) for net in nets]
    chosen = []
    for net in nets:
        known = [case for case in DEFAULT_CASES if case.net == net]
        if not known:
            raise ZnnError(f"no default output size for network '{net}': give --outsz z,y,x")
        chosen.extend(known[:1] if quick else known)
    return chosen


@dataclass(frozen=True)
class Config:
    """One measurement, passed to the worker process as JSON."""

    engine: str  # ENGINE_OURS or ENGINE_PEER
    net: str
    outsz: Triple
    threads: int
    mode: str  # one of OUR_MODES, or PEER_MODE
    repeats: int
    warmup: int
    cap_s: float
    seed: int = 0
    # {row label: conv modes by edge} of rows already measured for this case and thread
    # count; an `optimize` network that resolves to one of them is not timed twice.
    reuse: dict[str, dict[str, str]] | None = None

    @property
    def setup_cap_s(self) -> float:
        """Limit for building and the first forward pass, which include one-time work
        (FFT plans, optimize's timings) and so get more room than the warm-up update."""
        return SETUP_CAP_FACTOR * self.cap_s

    @property
    def case(self) -> Case:
        return Case(self.net, self.outsz)

    def to_json_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json_dict(cls, data: dict) -> Config:
        data = dict(data)
        data["outsz"] = tuple(data["outsz"])
        return cls(**data)

    def describe(self) -> str:
        what = "torch" if self.engine == ENGINE_PEER else f"znn {self.mode}"
        return f"{self.net} {self.case.label} threads {self.threads} {what}"


PeerThreads = Literal["all", "max"]


def plan_configs(cases: list[Case], threads: list[int], modes: list[str], *, with_peer: bool,
                 repeats: int, warmup: int, cap_s: float, peer_threads: PeerThreads = "all") -> list[Config]:
    """Every configuration, grouped by case; more threads first, so that a time skip can
    carry over to fewer threads without running them.

    At all cores every asked mode runs; with fewer threads only `optimize` (or, when it is
    not asked for, the first asked mode), which the speedup columns follow. The peer runs at
    every thread count (`peer_threads` "all") or at all cores only ("max")."""
    ours = [mode for mode in OUR_MODES if mode in modes]  # optimize last: it may repeat fft or direct
    scaling = "optimize" if "optimize" in ours else (ours[0] if ours else None)
    most = max(threads)
    configs = []
    for case in cases:
        for count in sorted(set(threads), reverse=True):
            if not case.primary and count != most:
                continue
            for mode in ours:
                if (count != most and mode != scaling) or (mode == "direct" and not case.primary):
                    continue
                cap = min(cap_s, DIRECT_CAP_S) if mode == "direct" else cap_s
                configs.append(Config(ENGINE_OURS, net=case.net, outsz=case.outsz, threads=count, mode=mode,
                                      repeats=repeats, warmup=warmup, cap_s=cap))
            if with_peer and (count == most or peer_threads == "all"):
                configs.append(Config(ENGINE_PEER, net=case.net, outsz=case.outsz, threads=count, mode=PEER_MODE,
                                      repeats=repeats, warmup=warmup, cap_s=cap_s))
    return configs
