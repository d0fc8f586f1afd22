"""`znn bench` runs end to end on a tiny net and writes its table; planning rules hold.

No assertion here is about speed: only that configurations run, are reported and land
in the result files.
"""

from __future__ import annotations

import importlib.util
import json

import pytest

from znn.bench.cases import DIRECT_CAP_S, ENGINE_OURS, ENGINE_PEER, WARMUP_PHASE, Case, Config, cases_for, plan_configs
from znn.bench.report import COLUMNS, table_rows
from znn.bench.runner import BenchOptions, inferred_skip, resolve_same, run_bench, with_reuse
from znn.bench.torch_peer import INSTALL_HINT
from znn.commands.cli import main

HAVE_TORCH = importlib.util.find_spec("torch") is not None
TINY = ["--nets", "tiny2d", "--outsz", "1,8,8", "--threads", "1", "--modes", "fft"]


def _only_file(folder, suffix):
    files = sorted(folder.glob(f"bench-*{suffix}"))
    assert len(files) == 1, files
    return files[0]


def test_quick_bench_on_tiny_net_writes_table_and_numbers(tmp_path, capsys):
    assert main(["bench", "--quick", *TINY, "--output", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    markdown = _only_file(tmp_path, ".md").read_text()
    header = next(line for line in markdown.splitlines() if line.startswith("| net"))
    assert [cell.strip() for cell in header.strip("|").split("|")] == list(COLUMNS)
    assert header in printed
    table_lines = [line for line in markdown.splitlines() if line.startswith("| tiny2d")]
    assert len(table_lines) == 1 and "| fft" in table_lines[0]
    assert table_lines[0] in printed

    data = json.loads(_only_file(tmp_path, ".json").read_text())
    assert set(data["machine"]["versions"]) >= {"numpy", "numba", "pyfftw", "torch"}
    ours = [r for r in data["results"] if r["config"]["engine"] == ENGINE_OURS]
    assert [r["status"] for r in ours] == ["ok"]
    assert len(ours[0]["update_s"]) == 3  # --quick: 3 repeats
    assert ours[0]["conv_modes"] == {"fft": 3, "gemm": 1}  # the 1x1x1 conv4 always runs as a product (gemm)
    assert ours[0]["peak_rss_mib"] > 0 and ours[0]["forward_voxels_per_s"] > 0
    peer = [r for r in data["results"] if r["config"]["engine"] == ENGINE_PEER]
    if HAVE_TORCH:
        assert [r["status"] for r in peer] == ["ok"]
        ratio = table_lines[0].split("|")[COLUMNS.index("ours/torch") + 1].strip()
        assert float(ratio) > 0
    else:
        assert peer[0]["status"] == "missing" and INSTALL_HINT in markdown


def test_bench_without_torch_still_times_ours(tmp_path, monkeypatch):
    # A `torch` package that fails to import stands in for a missing bench extra in the workers.
    fake = tmp_path / "fake"
    (fake / "torch").mkdir(parents=True)
    (fake / "torch" / "__init__.py").write_text("raise ImportError('no torch here')\n")
    monkeypatch.setenv("PYTHONPATH", str(fake))
    out = tmp_path / "out"
    run = run_bench(BenchOptions(nets=["tiny2d"], outsz=(1, 6, 6), threads=[1], modes=["direct"], repeats=2,
                                 output=out, quick=True, prewarm=False), say=lambda text: None)
    statuses = {r["config"]["engine"]: r["status"] for r in run.results}
    assert statuses == {ENGINE_OURS: "ok", ENGINE_PEER: "missing"}
    assert INSTALL_HINT in run.markdown_path.read_text()


def test_bad_arguments_are_errors_not_tracebacks(tmp_path, capsys):
    assert main(["bench", "--nets", "no_such_net", "--outsz", "1,8,8", "--output", str(tmp_path)]) == 2
    assert "no_such_net" in capsys.readouterr().err
    assert main(["bench", "--nets", "tiny2d", "--output", str(tmp_path)]) == 2
    assert "give --outsz" in capsys.readouterr().err
    assert main(["bench", "--modes", "fast", "--output", str(tmp_path)]) == 2
    assert "unknown conv mode fast" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["bench", "--repeats", "0"])
    assert not list(tmp_path.iterdir())


def test_default_and_selected_cases():
    assert [c.net for c in cases_for(None, None, quick=True)] == ["3d_3", "N4"]
    defaults = cases_for(None, None, quick=False)
    assert {c.net for c in defaults} == {"3d_3", "3d_5", "3d_7", "N4", "N4_affinity", "VD2D", "VD2D3D"}
    assert all(c.outsz == (1, 100, 100) for c in defaults if c.net in ("N4", "N4_affinity", "VD2D", "VD2D3D"))
    assert Case("3d_7", (9, 9, 9)) in defaults and Case("N4", (1, 100, 100)) in defaults
    assert cases_for(["3d_5"], None, quick=False) == [c for c in defaults if c.net == "3d_5"]
    assert cases_for(["tiny2d", "N4"], (1, 8, 8), quick=False) == [Case("tiny2d", (1, 8, 8)),
                                                                   Case("N4", (1, 8, 8))]


def _slow(config: Config) -> dict:
    return {"config": config.to_json_dict(), "status": "skipped", "skip_kind": "time"}


def test_plan_times_the_peer_and_direct_mode_at_all_cores_and_larger_sizes_once():
    cases = [Case("3d_7", (9, 9, 9)), Case("3d_7", (11, 11, 11), primary=False)]
    configs = plan_configs(cases, [1, 2], ["direct", "fft"], with_peer=True, repeats=5, warmup=1, cap_s=30,
                           peer_threads="max")
    assert [(c.outsz[0], c.threads, c.mode) for c in configs] == [
        (9, 2, "fft"), (9, 2, "direct"), (9, 2, "torch"), (9, 1, "fft"), (11, 2, "fft"), (11, 2, "torch")]
    assert {c.mode: c.cap_s for c in configs if c.outsz[0] == 9 and c.threads == 2} == {
        "fft": 30, "direct": DIRECT_CAP_S, "torch": 30}


def test_plan_scales_optimize_and_the_peer_over_every_thread_count():
    cases = [Case("N4", (1, 100, 100))]
    configs = plan_configs(cases, [1, 2, 4], ["fft", "direct", "optimize"], with_peer=True, repeats=3, warmup=1,
                           cap_s=30)
    assert [(c.threads, c.mode) for c in configs] == [
        (4, "fft"), (4, "direct"), (4, "optimize"), (4, "torch"), (2, "optimize"), (2, "torch"),
        (1, "optimize"), (1, "torch")]


def test_time_skips_carry_to_fewer_threads_and_larger_outputs_only():
    common = dict(repeats=5, warmup=1, cap_s=30)
    by = {(o, t, m): Config(ENGINE_OURS if m != "torch" else "torch", net="3d_7", outsz=(o, o, o), threads=t,
                            mode=m, **common)
          for o in (9, 11) for t in (1, 2) for m in ("fft", "direct", "torch")}
    slow = [_slow(by[9, 2, "direct"])]
    assert inferred_skip(by[9, 1, "direct"], slow)["skip_kind"] == "inferred"
    assert inferred_skip(by[11, 2, "direct"], slow) is not None
    assert inferred_skip(by[11, 1, "direct"], slow) is not None
    assert inferred_skip(by[9, 1, "fft"], slow) is None  # another mode
    assert inferred_skip(by[9, 2, "torch"], slow) is None  # the peer
    slow_small_threads = [_slow(by[9, 1, "fft"])]
    assert inferred_skip(by[9, 2, "fft"], slow_small_threads) is None  # more threads may fit


def _ok(config: Config, seconds: float, modes: dict[str, str] | None = None) -> dict:
    return {"config": config.to_json_dict(), "status": "ok", "update_median_s": seconds,
            "update_stdev_s": 0.01, "forward_voxels_per_s": 100.0, "peak_rss_mib": 50.0,
            "conv_modes": {}, "conv_modes_by_edge": modes or {}}


def test_optimize_that_repeats_fft_takes_over_that_row():
    common = dict(net="3d_3", outsz=(9, 9, 9), threads=2, repeats=5, warmup=1, cap_s=10)
    fft = Config(ENGINE_OURS, mode="fft", **common)
    direct = Config(ENGINE_OURS, mode="direct", **common)
    other_threads = Config(ENGINE_OURS, mode="fft", **common | {"threads": 1})
    results = [_ok(fft, 1.5, {"conv1": "fft"}), _ok(direct, 4.0, {"conv1": "direct"}),
               _ok(other_threads, 3.0, {"conv1": "fft", "x": "y"})]
    optimize = with_reuse(Config(ENGINE_OURS, mode="optimize", **common), results)
    assert optimize.reuse == {"fft": {"conv1": "fft"}, "direct": {"conv1": "direct"}}
    same = {"config": optimize.to_json_dict(), "status": "same", "same_as": "direct"}
    resolved = resolve_same(same, results)
    assert resolved["status"] == "ok" and resolved["update_median_s"] == 4.0
    assert resolved["config"]["mode"] == "optimize" and "direct row" in resolved["note"]


def test_table_shows_bounds_when_one_side_hit_the_warmup_cap():
    common = dict(net="N4", outsz=(1, 100, 100), threads=2, repeats=5, warmup=1, cap_s=10)
    ours = _ok(Config(ENGINE_OURS, mode="fft", **common), 2.0)
    peer = {"config": Config(ENGINE_PEER, mode="torch", **common).to_json_dict(), "status": "skipped",
            "skip_kind": "time", "skip_phase": WARMUP_PHASE, "skip_after_s": 10.0, "reason": "slow"}
    row = dict(zip(COLUMNS, table_rows([ours, peer])[0]))
    assert row["torch s/update"] == "skipped (>10)"
    assert row["ours/torch"] == "<0.20"
    ours_slow = dict(peer, config=Config(ENGINE_OURS, mode="direct", **common).to_json_dict())
    peer_ok = _ok(Config(ENGINE_PEER, mode="torch", **common), 0.5)
    row = dict(zip(COLUMNS, table_rows([ours_slow, peer_ok])[0]))
    assert row["ours/torch"] == ">20.00"
    # Stopped before the warm-up (e.g. the first forward pass): no bound on one update.
    first_pass = dict(ours_slow, skip_phase="the first forward pass")
    assert dict(zip(COLUMNS, table_rows([first_pass, peer_ok])[0]))["ours/torch"] == "-"


def test_direct_mode_is_skipped_where_the_cost_model_puts_it_far_past_the_cap():
    from znn.bench.runner import model_skip

    common = dict(threads=2, repeats=5, warmup=1, cap_s=10)
    slow = Config(ENGINE_OURS, net="3d_7", outsz=(17, 17, 17), mode="direct", **common)
    cheap = Config(ENGINE_OURS, net="3d_3", outsz=(9, 9, 9), mode="direct", **common)
    fft = Config(ENGINE_OURS, net="3d_7", outsz=(9, 9, 9), mode="fft", **common)
    assert model_skip(slow)["skip_kind"] == "model"
    assert model_skip(cheap) is None and model_skip(fft) is None
