"""``siyu bench``: finding benchmarks. No benchmark is run here (no timed tests)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from siyu.cli import bench
from siyu.cli.main import app

REPO = Path(__file__).resolve().parents[1]


def test_unknown_benchmark_exits_2_and_lists_the_available_ones() -> None:
    # when
    result = CliRunner().invoke(app, ["bench", "no-such-bench"])
    # then
    assert result.exit_code == 2
    assert "unknown benchmark 'no-such-bench'" in result.stderr
    assert "api-overhead" in result.stderr


def test_discovery_finds_api_overhead_from_the_repository() -> None:
    # when
    found = bench.find_benchmark("api-overhead", start=REPO)
    # then
    assert found == REPO / "bench" / "api_overhead.py"
    assert bench.available_benchmarks(start=REPO)["api-overhead"] == found


def test_discovery_searches_upward_from_a_subfolder() -> None:
    assert bench.find_benchmark("api_overhead", start=REPO / "src" / "siyu") == (
        REPO / "bench" / "api_overhead.py"
    )


def test_discovery_falls_back_to_the_package_location(tmp_path: Path) -> None:
    # given a directory outside the repository: the editable install's bench/ is still found
    assert (
        bench.find_benchmark("api-overhead", start=tmp_path) == REPO / "bench" / "api_overhead.py"
    )


def test_names_that_are_not_modules_are_not_found() -> None:
    assert bench.find_benchmark("../src/siyu/config", start=REPO) is None
    assert bench.find_benchmark("_private", start=REPO) is None


def test_the_benchmark_module_loads_with_a_main_without_running_it() -> None:
    # when
    module = bench.load_benchmark(REPO / "bench" / "api_overhead.py")
    # then
    assert callable(module.main)
