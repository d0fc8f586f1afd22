"""The benchmark's table, machine description and result files (Markdown + JSON)."""

from __future__ import annotations

import json
import os
import platform
import sys
from collections.abc import Iterable
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from znn import __version__
from znn.base.cores import usable_cores
from znn.bench.cases import ENGINE_PEER, WARMUP_PHASE
from znn.bench.torch_peer import INSTALL_HINT
from znn.planning.update_cost import cpu_model

NOTE_CHARS = 160  # the full reasons are in the JSON file
LEGEND = ("skipped (>N): the warm-up update ran past the N s cap, so one update takes more than N s; "
          "<r / >r: the ratio bound that follows. Full reasons and every timing are in the .json file.")
COLUMNS = ("net", "outsz", "threads", "mode", "ours s/update", "torch s/update", "ours/torch",
           "ours speedup", "torch speedup", "ours fwd vox/s", "torch fwd vox/s", "peak RSS MiB ours/torch",
           "notes")


def _package_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def machine_info() -> dict[str, Any]:
    """What the numbers depend on: CPU, cores, memory and library versions."""
    try:
        memory_gib = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        memory_gib = None
    return {
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "usable_cores": usable_cores(),
        "memory_gib": memory_gib,
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "versions": {name: _package_version(name) for name in ("numpy", "numba", "pyfftw", "torch")}
                    | {"znn": __version__},
    }


# ---------------------------------------------------------------------------------------------
# cells


def _seconds(result: dict[str, Any] | None) -> str:
    if result is None:
        return "-"
    status = result["status"]
    if status == "ok":
        return f"{result['update_median_s']:.3g} ±{result['update_stdev_s']:.2g}"
    if status == "missing":
        return INSTALL_HINT
    floor = _update_floor(result)
    return f"skipped (>{floor:.0f})" if floor else status


def _rate(result: dict[str, Any] | None) -> str:
    if result is None or result["status"] != "ok" or not result.get("forward_voxels_per_s"):
        return "n/a" if result is not None and result["status"] == "missing" else "-"
    return f"{result['forward_voxels_per_s']:,.0f}"


def _rss(result: dict[str, Any] | None) -> str:
    if result is None or result.get("peak_rss_mib") is None or result["status"] == "missing":
        return "-"
    return f"{result['peak_rss_mib']:.0f}"


def _update_floor(result: dict[str, Any]) -> float | None:
    """A lower bound on one update of a configuration its warm-up cap stopped, else None."""
    if result["status"] == "skipped" and result.get("skip_phase") == WARMUP_PHASE:
        return result.get("skip_after_s")
    return None


def _ratio(ours: dict[str, Any], peer: dict[str, Any] | None) -> str:
    """ours/torch of the medians; a bound ('<0.25') when one side only shows it exceeded the cap."""
    if peer is None:
        return "-"
    if ours["status"] == "ok" and peer["status"] == "ok":
        return f"{ours['update_median_s'] / peer['update_median_s']:.2f}"
    if ours["status"] == "ok" and _update_floor(peer):
        return f"<{ours['update_median_s'] / _update_floor(peer):.2f}"
    if peer["status"] == "ok" and _update_floor(ours):
        return f">{_update_floor(ours) / peer['update_median_s']:.2f}"
    return "-"


def _modes(result: dict[str, Any]) -> str:
    counts = result.get("conv_modes") or {}
    return "conv modes: " + ", ".join(f"{n} {mode}" for mode, n in counts.items()) if counts else ""


def _notes(ours: dict[str, Any], peer: dict[str, Any] | None) -> str:
    notes = [_modes(ours)]
    if ours["status"] != "ok" and ours.get("reason"):
        notes.append(f"ours: {ours['reason']}")
    if ours.get("note"):
        notes.append(ours["note"])
    if peer is not None and peer["status"] not in ("ok", "missing") and peer.get("reason"):
        notes.append(f"torch: {peer['reason']}")
    text = "; ".join(n for n in notes if n)
    text = " ".join(text.replace("|", "/").split())  # one table cell: no pipes, no line breaks
    return text if len(text) <= NOTE_CHARS else text[:NOTE_CHARS - 3] + "..."


def _speedup(result: dict[str, Any] | None, results: list[dict[str, Any]]) -> str:
    """Median update time with one thread over this row's, for the same engine, mode and case."""
    if result is None or result["status"] != "ok" or result["config"]["threads"] == 1:
        return "-"
    config = result["config"]
    for other in results:
        mine = other["config"]
        if (mine["engine"], mine["mode"], mine["net"], mine["outsz"], mine["threads"]) == (
                config["engine"], config["mode"], config["net"], config["outsz"], 1) and other["status"] == "ok":
            return f"{other['update_median_s'] / result['update_median_s']:.2f}"
    return "-"


def table_rows(results: list[dict[str, Any]]) -> list[tuple[str, ...]]:
    """One row per (case, threads, our mode), with the peer of that case and thread count."""
    peers = {_key(r): r for r in results if r["config"]["engine"] == ENGINE_PEER}
    rows: list[tuple[str, ...]] = []
    for ours in results:
        config = ours["config"]
        if config["engine"] == ENGINE_PEER:
            continue
        peer = peers.get(_key(ours))
        rows.append((config["net"], "x".join(map(str, config["outsz"])), str(config["threads"]), config["mode"],
                     _seconds(ours), _seconds(peer), _ratio(ours, peer), _speedup(ours, results),
                     _speedup(peer, results), _rate(ours), _rate(peer), f"{_rss(ours)} / {_rss(peer)}",
                     _notes(ours, peer)))
    ours_keys = {_key(r) for r in results if r["config"]["engine"] != ENGINE_PEER}
    for key, peer in peers.items():  # the peer alone, when no mode of ours was asked for
        if key not in ours_keys:
            config = peer["config"]
            rows.append((config["net"], "x".join(map(str, config["outsz"])), str(config["threads"]), "-",
                         "-", _seconds(peer), "-", "-", _speedup(peer, results), "-", _rate(peer), f"- / {_rss(peer)}",
                         f"torch: {peer['reason']}" if peer.get("reason") else ""))
    return rows


def _key(result: dict[str, Any]) -> tuple:
    config = result["config"]
    return (config["net"], tuple(config["outsz"]), config["threads"])


def blas_summary(results: list[dict[str, Any]]) -> str:
    """The BLAS/ISA kernels the workers reported, ours then the peer's."""
    seen: dict[str, str] = {}
    for result in results:
        if result.get("blas"):
            seen.setdefault(result["config"]["engine"], result["blas"])
    return "; ".join(f"{engine}: {kernels}" for engine, kernels in seen.items()) or "not reported"


def markdown_table(rows: Iterable[tuple[str, ...]]) -> str:
    """A Markdown table with padded columns, readable as plain text too."""
    rows = [COLUMNS, *rows]
    widths = [max(len(row[k]) for row in rows) for k in range(len(COLUMNS))]
    lines = ["| " + " | ".join(cell.ljust(w) for cell, w in zip(row, widths)) + " |" for row in rows]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def machine_text(info: dict[str, Any]) -> str:
    versions = ", ".join(f"{name} {v or 'not installed'}" for name, v in info["versions"].items())
    return (f"{info['cpu']}, {info['usable_cores']} usable of {info['cpu_count']} cores, "
            f"{info['memory_gib']} GiB; Python {info['python']}; {versions}")


def write_results(folder: Path, rows: list[tuple[str, ...]], results: list[dict[str, Any]],
                  info: dict[str, Any], settings: dict[str, Any], started: datetime) -> tuple[Path, Path]:
    """bench-<timestamp>.md (table and machine) and .json (raw numbers) in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    stem = folder / f"bench-{started.strftime('%Y%m%d-%H%M%S')}"
    for n in range(2, 100):  # two runs in the same second keep both files
        if not stem.with_suffix(".json").exists():
            break
        stem = folder / f"bench-{started.strftime('%Y%m%d-%H%M%S')}-{n}"
    md_path, json_path = stem.with_suffix(".md"), stem.with_suffix(".json")
    text = [f"# znn bench, {started.isoformat(timespec='seconds')}", "",
            f"Machine: {machine_text(info)}", "",
            f"BLAS kernels: {info.get('blas', 'not reported')}", "",
            f"Settings: {json.dumps(settings)}", "",
            "One update = backward pass with weight update + forward pass on one patch, float32, "
            "inputs and output gradients from U[-1,1]; median ±stdev of the timed repeats after "
            "warm-up. Forward throughput = output voxels per second of an inference forward pass "
            "(median). Speedup = the median update with 1 thread over this row's (same engine, mode "
            "and case). Peak RSS of each configuration's own process.", "",
            markdown_table(rows), "", LEGEND, ""]
    md_path.write_text("\n".join(text))
    json_path.write_text(json.dumps({"started": started.isoformat(timespec="seconds"), "machine": info,
                                     "settings": settings, "columns": list(COLUMNS),
                                     "rows": [list(r) for r in rows], "results": results}, indent=1))
    return md_path, json_path
