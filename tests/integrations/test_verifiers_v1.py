"""verifiers 0.4 (``verifiers.v1``): the port scores a benchmark as ``anchorgym eval`` does, episode for episode.

verifiers 0.4 pins ``mcp==2.0.0``, which cannot share a venv with openenv 0.10 (``fastmcp<4``, whose 3.x
needs ``mcp<2``), so it lives in its own venv (``make verifiers-venv``: ``.venv/verifiers-v1`` with
``anchorgym[verifiers-v1]``). These tests run the verifiers side there by subprocess; the model server
(``anchorgym serve tiny --max-batch 1`` on 127.0.0.1) and ``anchorgym eval`` run in this venv.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from anchorgym.harness.plan import derive_seed

ROOT = Path(__file__).parents[2]
BENCHMARK = "sokoban-6x6-1box/lm-smoke@v1"
TASKS = ["1000000000", "1000000001", "1000000002", "1000000003"]
MAX_NEW_TOKENS = 16  # both sides send the same cap


@pytest.fixture(scope="module")
def v1_python() -> str:
    """The verifiers 0.4 venv's python (``ANCHORGYM_VERIFIERS_V1_PYTHON``, else ``.venv/verifiers-v1``)."""
    python = os.environ.get("ANCHORGYM_VERIFIERS_V1_PYTHON") or str(ROOT / ".venv/verifiers-v1/bin/python")
    if not Path(python).exists():
        pytest.skip("needs the verifiers 0.4 venv: make verifiers-venv")
    return python


def _run_v1(python: str, code: str) -> subprocess.CompletedProcess:
    return subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=600, cwd=ROOT)


def test_the_integration_loads_under_verifiers_0_4(v1_python):
    """Under verifiers 0.4 (no vf.MultiTurnEnv) the module imports and its env and vf-eval plugin load the benchmark."""
    code = (
        "import json, verifiers, verifiers.v1 as vf\n"
        "from anchorgym.integrations.verifiers import AnchorVerifiersEnv, load_environment\n"
        f"env = load_environment(benchmark={BENCHMARK!r})\n"
        "config = vf.resolve_env_config({'taskset': {'id': 'anchorgym-verifiers', 'benchmark': "
        f"{BENCHMARK!r}, 'seeds': [1]}}}})\n"
        "plugin = vf.load_environment(config)\n"
        "assert isinstance(env, AnchorVerifiersEnv) and isinstance(plugin, AnchorVerifiersEnv)\n"
        "print(json.dumps([verifiers.__version__, [t.data.info for t in env.taskset], "
        "[t.data.info['env_seed'] for t in plugin.taskset], [t.data.settings for t in env.taskset][0]]))\n"
    )
    done = _run_v1(v1_python, code)
    assert done.returncode == 0, done.stderr[-3000:]
    version, rows, plugin_seeds, settings = json.loads(done.stdout)
    assert version.startswith("0.4.")
    assert rows == [{"task_id": t, "env_seed": derive_seed(0, t, 0), "seed": 0, "episode": 0} for t in TASKS]
    assert plugin_seeds == [derive_seed(1, t, 0) for t in TASKS]
    assert (settings["split"], settings["max_steps"], settings["history_length"]) == ("test", 3, 2)
    assert settings["env_kwargs"] == {"dim_room": [6, 6], "num_boxes": 1} and settings["reward"] == "won"


def test_bad_arguments_have_clear_errors_under_verifiers_0_4(v1_python):
    code = (
        "from anchorgym.integrations.verifiers import load_environment\n"
        f"for kwargs in ({{}}, {{'benchmark': {BENCHMARK!r}, 'reward': 'win'}}):\n"
        "    try:\n"
        "        load_environment(**kwargs)\n"
        "    except Exception as error:\n"
        "        print(type(error).__name__, error)\n"
    )
    done = _run_v1(v1_python, code)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.splitlines() == [
        "ConfigError load_environment needs an env id or a benchmark, e.g. benchmark='sokoban-6x6-1box/test@v2'.",
        "UnknownNameError Unknown reward 'win'. Did you mean 'won'? Known: score, won.",
    ]


def _evaluate_v1(python: str, url: str, model: str, kwargs: dict, max_tokens: int = MAX_NEW_TOKENS) -> list[dict]:
    """Evaluate ``load_environment(**kwargs)`` with verifiers 0.4 in its venv; return its episodes (JSON)."""
    script = str(Path(__file__).parent / "verifiers_v1_run.py")
    args = [url, model, str(max_tokens), json.dumps(kwargs)]
    run = subprocess.run([python, script, *args], capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout)


@pytest.fixture(scope="module")
def served() -> Iterator[str]:
    """``anchorgym serve tiny --max-batch 1`` on 127.0.0.1 (a real process); yields its base URL."""
    command = [sys.executable, "-m", "anchorgym.cli", "serve", "tiny", "--port", "0", "--max-batch", "1"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("Serving 'tiny' at http://127.0.0.1:"), line
        yield line.split()[-1]
    finally:
        proc.terminate()
        proc.wait(timeout=60)


@pytest.mark.slow
def test_verifiers_0_4_evaluation_matches_anchorgym_eval(v1_python, served, tmp_path):
    """8 episodes (4 tasks x seeds 0, 1): the same success, score and steps; every turn one fresh prompt."""
    command = [
        *(sys.executable, "-m", "anchorgym.cli", "eval", BENCHMARK, "--seeds", "0,1"),
        *("--policy", f"openai:{served}?model=tiny", "--temperature", "0"),
        *("--max-new-tokens", str(MAX_NEW_TOKENS), "--out", str(tmp_path / "eval"), "--no-progress"),
    ]
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "NO_COLOR": "1"}, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    records = [json.loads(line) for line in (tmp_path / "eval/episodes.jsonl").read_text().splitlines()]
    expected = {(r["seed"], r["task_id"]): r for r in records}

    episodes = _evaluate_v1(v1_python, served, "tiny", {"benchmark": BENCHMARK, "seeds": [0, 1]})
    got = {(e["info"]["seed"], e["info"]["task_id"]): e for e in episodes}

    assert sorted(got) == sorted(expected) == [(s, t) for s in (0, 1) for t in TASKS]
    for key, record in expected.items():
        episode = got[key]
        assert episode["ok"] and episode["errors"] == []
        assert episode["info"]["env_seed"] == derive_seed(key[0], key[1], 0)
        assert episode["rewards"] == {"success": float(record["won"]), "score": record["score"]}
        assert episode["reward"] == float(record["won"])
        steps = [{name: s[name] for name in ("observation", "text", "action")} for s in record["steps"]]
        assert episode["steps"] == steps and len(steps) == record["length"]
        # one branch per turn: the template's system message, a fresh user prompt, the model's answer
        assert [[role for role, _ in branch] for branch in episode["branches"]] == [
            ["system", "user", "assistant"]
        ] * len(steps)
        for branch, step in zip(episode["branches"], steps, strict=True):
            assert step["observation"] in branch[1][1] and branch[2][1] == step["text"]


# ----------------------------------------------------------------- an env that fails, a server that answers one text
def test_an_env_that_raises_fails_its_episode_only(v1_python, answering_server):
    """The env's exception is the episode's error (AnchorEnvFailure), as an errored episode of anchorgym eval."""
    kwargs = {"env_id": "anchorgym-test/CrashySokoban-v0", "task_ids": ["1000000000", "1000000001"], "max_steps": 5}
    episodes = _evaluate_v1(v1_python, answering_server, "m", kwargs)
    assert [e["info"]["task_id"] for e in episodes] == ["1000000000", "1000000001"]
    for episode in episodes:
        assert not episode["ok"] and episode["steps"] == [] and episode["reward"] == 0.0
        assert episode["errors"] == ["AnchorEnvFailure: the env raised in step: RuntimeError: the engine fell over"]


@pytest.mark.parametrize("answering_server", ["up"], indirect=True)
def test_episodes_on_an_openenv_server_equal_in_process_ones(v1_python, answering_server, serve):
    """With url=, each episode plays on an OpenEnv server through RemoteEnv; the steps are the in-process ones."""
    # answering "up" leaves task 1000000000 unsolved after 3 steps and solves 1000000019
    kwargs = {"env_id": "anchorgym/Sokoban-v1", "task_ids": ["1000000000", "1000000019"], "max_steps": 3}
    with serve("anchorgym/Sokoban-v1", "test", env_kwargs={"max_steps": 3}) as url:
        remote = _evaluate_v1(v1_python, answering_server, "m", {**kwargs, "url": url})
        wrong = _evaluate_v1(v1_python, answering_server, "m", {**kwargs, "max_steps": 5, "url": url})
    local = _evaluate_v1(v1_python, answering_server, "m", kwargs)
    assert [(e["info"], e["rewards"], e["steps"]) for e in remote] == [
        (e["info"], e["rewards"], e["steps"]) for e in local
    ]
    assert all(e["ok"] and {s["action"] for s in e["steps"]} == {"up"} for e in remote)
    assert [(e["rewards"]["success"], e["reward"], len(e["steps"])) for e in remote][0] == (0.0, 0.0, 3)
    assert [(e["rewards"]["success"], e["reward"]) for e in remote][1] == (1.0, 1.0)
    assert [(e["ok"], e["traces"]) for e in wrong] == [(False, 0), (False, 0)]
    assert wrong[0]["errors"][0].startswith(
        f"EnvError: AnchorVerifiersEnv.run(): ConfigError: The OpenEnv server at {url} plays anchorgym/Sokoban-v1 "
        "(split test, max_steps 3); "
        "these rollouts need anchorgym/Sokoban-v1 (split test, max_steps 5)."
    )
