"""anchorgym inside verl 0.9: the agent loop through verl's real AgentLoopWorker, and the advantage hook.

As verl's own ``*_on_cpu`` agent-loop tests do, the LLM server is replaced by a scripted one (it
answers with a random Sokoban action and records what it was asked); everything else is verl's:
``AgentLoopWorker.generate_sequences`` instantiates the registered loop with hydra, pads and
batches its outputs into a ``DataProto``; the hook replaces ``ray_trainer.compute_advantage``.
"""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("verl", reason="needs verl 0.9: see docs/integrations/verl.md (make install installs it)")

from verl.experimental.agent_loop.agent_loop import AgentLoopWorker  # noqa: E402
from verl.protocol import DataProto  # noqa: E402
from verl.trainer.ppo import core_algos, ray_trainer  # noqa: E402
from verl.workers.rollout.replica import TokenOutput  # noqa: E402

from anchorgym.envs.registry import make  # noqa: E402
from anchorgym.errors import ConfigError  # noqa: E402
from anchorgym.integrations.verl.advantage import (  # noqa: E402
    AnchorAdvantageSettings,
    install,
    spread,
    step_advantages,
    step_rows,
)
from anchorgym.integrations.verl.main import compose, main, task_runner_class  # noqa: E402
from anchorgym.integrations.verl.rows import EpisodeSpec, episode_rows, write_parquet  # noqa: E402
from anchorgym.training import advantages  # noqa: E402
from anchorgym.training.batching import penalised_rewards  # noqa: E402

ENV_ID = "anchorgym/Sokoban-v0"
GROUP_SIZE = 4
ACTIONS = ("up", "down", "left", "right", "dance")  # "dance" is invalid: a no-op step with action_valid False
FIXTURE = json.loads((Path(__file__).parents[1] / "training" / "fixtures" / "verl_agent_advantages.json").read_text())


class ScriptedServer:
    """verl's LLM server interface (``generate``): a random Sokoban action per turn, every call recorded."""

    def __init__(self, tokenizer, seed: int = 0) -> None:
        self.tokenizer, self.rng, self.calls = tokenizer, random.Random(seed), []

    async def generate(self, *, request_id, prompt_ids, sampling_params, **kwargs):
        action = self.rng.choice(ACTIONS)
        ids = self.tokenizer.encode(f"<think> ok </think> <action> {action} </action>")
        ids.append(self.tokenizer.eos_token_id)
        logprobs = [round(-0.01 * (i + 1) - self.rng.random(), 6) for i in range(len(ids))]
        self.calls.append({"prompt": list(prompt_ids), "ids": ids, "logprobs": logprobs})
        return TokenOutput(token_ids=ids, log_probs=logprobs)


def verl_config(model_path, response_length: int = 4096):
    return compose(
        [
            "algorithm.adv_estimator=anchorgym",
            "trainer.use_v1=false",
            "+anchorgym.estimator=gigpo",
            f"actor_rollout_ref.model.path={model_path}",
            "actor_rollout_ref.rollout.name=vllm",
            f"actor_rollout_ref.rollout.n={GROUP_SIZE}",
            "actor_rollout_ref.rollout.prompt_length=2048",
            f"actor_rollout_ref.rollout.response_length={response_length}",
            "actor_rollout_ref.rollout.calculate_log_probs=true",
        ]
    )


class RecordedServer:
    """verl's LLM server interface answering with recorded model turns, in order."""

    def __init__(self, tokenizer, turns: list[str]) -> None:
        self.tokenizer, self.turns, self.calls = tokenizer, list(turns), []

    async def generate(self, *, request_id, prompt_ids, sampling_params, **kwargs):
        ids = [*self.tokenizer.encode(self.turns[len(self.calls)]), self.tokenizer.eos_token_id]
        self.calls.append({"prompt": list(prompt_ids), "ids": ids})
        return TokenOutput(token_ids=ids, log_probs=[-0.5] * len(ids))


def rollout(config, tokenizer, rows, seed: int = 0, n: int = GROUP_SIZE, uid: str | None = None, server=None):
    """verl's AgentLoopWorker plays ``rows`` x ``n`` trajectories; return the batch and the server."""
    server = server or ScriptedServer(tokenizer, seed)

    async def run():
        worker = AgentLoopWorker(config, server)
        fields = {key: np.array([row[key] for row in rows], dtype=object) for key in ("data_source", "agent_name")}
        fields["extra_info"] = np.array([row["extra_info"] for row in rows], dtype=object)
        fields["raw_prompt"] = np.empty(len(rows), dtype=object)
        fields["raw_prompt"][:] = [row["prompt"] for row in rows]
        fields["index"] = np.arange(len(rows))
        fields["uid"] = np.array([uid or str(uuid.uuid4()) for _ in rows], dtype=object)  # as RayPPOTrainer.fit
        batch = DataProto.from_dict(non_tensors=fields).repeat(n, interleave=True)
        return await worker.generate_sequences(batch)

    return asyncio.run(run()), server


@pytest.fixture(scope="module")
def played(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ANCHORGYM_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        from transformers import AutoTokenizer

        from anchorgym.policies.tiny import build_tiny_model

        model = build_tiny_model()
        tokenizer = AutoTokenizer.from_pretrained(model)
        config = verl_config(model)
        rows = episode_rows(ENV_ID, ["0", "1", "2"], split="test", max_steps=5)
        batch, server = rollout(config, tokenizer, rows)
        yield {"batch": batch, "server": server, "tokenizer": tokenizer, "rows": rows, "model": model}


@pytest.fixture(scope="module")
def played_one_by_one(played):
    """Two groups of GROUP_SIZE trajectories, each played alone with its own seeded script: deterministic."""
    config, parts = verl_config(played["model"]), []
    for task in ("0", "1"):
        rows = episode_rows(ENV_ID, [task], split="test", max_steps=5)
        for copy in range(GROUP_SIZE):
            batch, _ = rollout(config, played["tokenizer"], rows, seed=10 * int(task) + copy, n=1, uid=f"task-{task}")
            parts.append(batch)
    return DataProto.concat(parts)


def unpadded(batch, row):
    """The row's prompt and response tokens without verl's padding."""
    prompt_mask = batch.batch["attention_mask"][row, : batch.batch["prompts"].shape[1]].bool()
    response_mask = batch.batch["attention_mask"][row, batch.batch["prompts"].shape[1] :].bool()
    return batch.batch["prompts"][row][prompt_mask].tolist(), batch.batch["responses"][row][response_mask].tolist()


def test_every_turn_is_the_servers_tokens_and_log_probs_on_the_exact_context(played):
    batch, calls = played["batch"], played["server"].calls
    unused = {}  # (context, sampled tokens) -> the calls that produced them; a group's first turns share a context
    for call in calls:
        unused.setdefault((tuple(call["prompt"]), tuple(call["ids"])), []).append(call)
    assert len(batch) == 3 * GROUP_SIZE
    seen = 0
    for row in range(len(batch)):
        prompt, response = unpadded(batch, row)
        spans = batch.non_tensor_batch["anchorgym_spans"][row]
        logprobs = batch.batch["rollout_log_probs"][row]
        for start, end in spans:
            # the model was asked with exactly the trained prefix and sampled exactly the trained tokens
            matches = unused[(tuple(prompt + response[:start]), tuple(response[start:end]))]
            call = next(c for c in matches if logprobs[start:end].tolist() == pytest.approx(c["logprobs"], abs=1e-6))
            matches.remove(call)
            seen += 1
    assert seen == len(calls)  # every server call is one turn of one trajectory


def test_response_mask_is_one_on_model_turns_only(played):
    batch, tokenizer = played["batch"], played["tokenizer"]
    width = batch.batch["response_mask"].shape[1]
    for row in range(len(batch)):
        spans = batch.non_tensor_batch["anchorgym_spans"][row]
        expected = torch.zeros(width, dtype=batch.batch["response_mask"].dtype)
        for start, end in spans:
            expected[start:end] = 1
        assert torch.equal(batch.batch["response_mask"][row], expected)
        assert float(batch.batch["rollout_log_probs"][row][expected == 0].abs().sum()) == 0.0
        _, response = unpadded(batch, row)
        for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
            env_turn = tokenizer.decode(response[end:start])
            assert env_turn.startswith("\n<|im_start|>user\n") and env_turn.endswith("<|im_start|>assistant\n")


def test_anchors_rewards_and_validity_are_the_envs_before_each_step(played):
    batch = played["batch"]
    for row in range(len(batch)):
        spec = EpisodeSpec.from_extra_info(batch.non_tensor_batch["extra_info"][row])
        env = make(ENV_ID, split=spec.split, max_steps=spec.max_steps)
        _, info = env.reset(seed=spec.env_seed, options={"task_id": spec.task_id})
        anchors, rewards, valid = [], [], []
        for action in batch.non_tensor_batch["anchorgym_actions"][row]:
            anchors.append(info["anchor"])
            _, reward, _, _, info = env.step(action)
            rewards.append(reward)
            valid.append(info["action_valid"])
        env.close()
        assert batch.non_tensor_batch["anchorgym_anchors"][row] == anchors
        assert batch.non_tensor_batch["anchorgym_rewards"][row] == rewards
        assert batch.non_tensor_batch["anchorgym_valid"][row] == valid
        assert float(batch.batch["rm_scores"][row].sum()) == pytest.approx(sum(rewards))
    assert not all(all(v) for v in batch.non_tensor_batch["anchorgym_valid"])  # the script plays invalid actions


def test_a_group_shares_its_uid_initial_state_and_prompt(played):
    batch = played["batch"]
    uids = batch.non_tensor_batch["uid"]
    for group in range(3):
        rows = range(group * GROUP_SIZE, (group + 1) * GROUP_SIZE)
        assert len({uids[r] for r in rows}) == 1
        assert len({batch.non_tensor_batch["anchorgym_anchors"][r][0] for r in rows}) == 1
        assert len({tuple(unpadded(batch, r)[0]) for r in rows}) == 1
    assert len(set(uids)) == 3


@pytest.mark.parametrize("estimator,options", [("gigpo", {"mode": "mean_std_norm"}), ("hgpo", {"history": 2})])
def test_hook_gives_our_advantages_spread_over_each_turn(played, estimator, options):
    batch = played["batch"]
    settings = AnchorAdvantageSettings(estimator=estimator, options=options)
    install(settings)
    out = ray_trainer.compute_advantage(batch, adv_estimator="anchorgym", gamma=1.0, num_repeat=GROUP_SIZE)
    # ours, from the columns the trainer would build: one step row per turn
    extra = batch.non_tensor_batch
    group, traj, step, reward, valid, anchor = [], [], [], [], [], []
    for row in range(len(batch)):
        for t, _ in enumerate(extra["anchorgym_spans"][row]):
            group.append(extra["uid"][row])
            traj.append(row)
            step.append(t)
            reward.append(extra["anchorgym_rewards"][row][t])
            valid.append(extra["anchorgym_valid"][row][t])
            anchor.append(extra["anchorgym_anchors"][row][t])
    rewards, _ = penalised_rewards(np.array(reward), np.array(valid), 0.1, "reward")
    expected = advantages.compute(estimator, group, traj, step, rewards, anchor, **options)
    assert np.abs(expected).max() > 0  # the script's random actions give the groups something to rank
    position = 0
    for row in range(len(batch)):
        token_advantages = out.batch["advantages"][row]
        covered = torch.zeros_like(token_advantages, dtype=torch.bool)
        for start, end in extra["anchorgym_spans"][row]:
            assert token_advantages[start:end].tolist() == pytest.approx([expected[position]] * (end - start))
            covered[start:end] = True
            position += 1
        assert float(token_advantages[~covered].abs().sum()) == 0.0  # env tokens and padding
    assert torch.equal(out.batch["returns"], out.batch["advantages"])


def test_other_estimators_are_verls_own(played):
    batch = DataProto.from_dict(
        tensors={
            "token_level_rewards": played["batch"].batch["rm_scores"].clone(),
            "response_mask": played["batch"].batch["response_mask"].clone(),
        },
        non_tensors={"uid": played["batch"].non_tensor_batch["uid"]},
    )
    install(AnchorAdvantageSettings())
    out = ray_trainer.compute_advantage(batch, adv_estimator="grpo", num_repeat=GROUP_SIZE)
    expected, _ = core_algos.compute_grpo_outcome_advantage(
        batch.batch["token_level_rewards"], batch.batch["response_mask"], batch.non_tensor_batch["uid"]
    )
    assert torch.equal(out.batch["advantages"], expected)


def recorded_batch(rows: list[dict]) -> DataProto:
    """A verl batch holding a recorded step batch: one row per trajectory, turns of 3 tokens, 2 env tokens apart."""
    trajectories = sorted({r["traj"] for r in rows})
    extra = {key: [[] for _ in trajectories] for key in ("spans", "anchors", "rewards", "valid")}
    uids = [f"group-{next(r['group'] for r in rows if r['traj'] == t)}" for t in trajectories]
    for r in sorted(rows, key=lambda r: (r["traj"], r["step"])):
        i = trajectories.index(r["traj"])
        extra["spans"][i].append([5 * r["step"], 5 * r["step"] + 3])
        extra["anchors"][i].append(r["anchor"])
        extra["rewards"][i].append(r["reward"])
        extra["valid"][i].append(r["valid"])
    width = 5 * max(len(s) for s in extra["spans"])
    mask = torch.zeros(len(trajectories), width, dtype=torch.int64)
    for i, spans in enumerate(extra["spans"]):
        for start, end in spans:
            mask[i, start:end] = 1
    non_tensors = {f"anchorgym_{k}": _objects(v) for k, v in extra.items()}
    return DataProto.from_dict(tensors={"response_mask": mask}, non_tensors={"uid": np.array(uids), **non_tensors})


def _objects(values: list) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def published_settings(setting: dict) -> AnchorAdvantageSettings:
    """verl-agent's script settings (fixture ``published``) as hook settings, with its row penalty."""
    options = {"mode": setting["mode"]}
    if setting["estimator"] == "gigpo":
        options["stats"] = "step"
    else:
        options.update(history=setting["history"], episode=setting["episode_term"])
    return AnchorAdvantageSettings(
        setting["estimator"], setting["gamma"], options, setting["penalty"], invalid_action_penalty_mode="row"
    )


@pytest.mark.parametrize("name", sorted(FIXTURE["published"]))
def test_hook_gives_verl_agents_recorded_advantages(name):
    install(published_settings(FIXTURE["published"][name]))
    for rows, recorded in zip(FIXTURE["batches"], FIXTURE["advantages"][name], strict=True):
        out = ray_trainer.compute_advantage(recorded_batch(rows), adv_estimator="anchorgym")
        trajectories = sorted({r["traj"] for r in rows})
        for r, value in zip(rows, recorded, strict=True):
            i, start = trajectories.index(r["traj"]), 5 * r["step"]
            assert out.batch["advantages"][i, start : start + 3].tolist() == pytest.approx([value] * 3, abs=2e-6)
            assert out.batch["advantages"][i, start + 3 : start + 5].abs().sum() == 0


def test_step_rows_need_the_agent_loops_turns():
    with pytest.raises(ConfigError, match="has no anchorgym turns"):
        step_rows(["g"], {"anchorgym_spans": [[]]})
    rows = step_rows(
        ["g", "g"],
        {
            "anchorgym_spans": [[[0, 1]], [[0, 2]]],
            "anchorgym_anchors": [["a"], ["a"]],
            "anchorgym_rewards": [[1.0], [0.0]],
            "anchorgym_valid": [[True], [False]],
        },
    )
    values = step_advantages(rows, AnchorAdvantageSettings(estimator="grpo", options={"mode": "mean_norm"}))
    assert values.tolist() == pytest.approx([0.55, -0.55])  # returns 1 and -0.1 (penalty folded in)
    assert spread(values, rows, torch.ones(2, 3)).flatten().tolist() == pytest.approx([0.55, 0, 0, -0.55, -0.55, 0])


def test_settings_and_launcher_errors():
    with pytest.raises(ConfigError, match="anchorgym.estimator must be one of"):
        AnchorAdvantageSettings(estimator="gae")
    with pytest.raises(ConfigError, match="Unknown anchorgym settings"):
        AnchorAdvantageSettings.from_mapping({"estimater": "gigpo"})
    with pytest.raises(ConfigError, match="add trainer.use_v1=false"):
        compose(["algorithm.adv_estimator=anchorgym"])
    with pytest.raises(ConfigError, match="needs extra_info"):
        EpisodeSpec.from_extra_info({})


def test_launcher_reports_a_bad_config_in_one_line(capsys):
    assert main(["algorithm.adv_estimator=anchorgym"]) == 2
    assert capsys.readouterr().err.startswith("error: algorithm.adv_estimator=anchorgym runs in verl's RayPPOTrainer")


def test_task_runner_is_verls_with_the_hook():
    from verl.trainer.main_ppo_v0 import TaskRunner

    runner = task_runner_class().__ray_actor_class__
    assert issubclass(runner, TaskRunner.__ray_actor_class__) and runner.run is not TaskRunner.__ray_actor_class__.run


def test_rows_round_trip_through_parquet(tmp_path):
    import pandas as pd

    rows = episode_rows(ENV_ID, ["0", "1"], seed=3, episodes_per_task=2, split="test", anchor_fn="observation")
    path = write_parquet(tmp_path / "train.parquet", rows)
    read = pd.read_parquet(path)
    specs = [EpisodeSpec.from_extra_info(dict(extra)) for extra in read["extra_info"]]
    assert [(s.task_id, s.anchor_fn) for s in specs] == [("0", "observation")] * 2 + [("1", "observation")] * 2
    assert len({s.env_seed for s in specs}) == 4
    assert list(read["agent_name"]) == ["anchorgym_agent"] * 4


# verl-agent's own gigpo/core_gigpo.py (johnhaofu/verl-agent 5d7e4b8, 2026-05-08), run once in a scratch dir on the
# step rows of `played_one_by_one` with its script settings (gamma 0.95, penalty 0.1 off the invalid row's episode
# score and step return, statistics across every row of a group): the advantage of each row, trajectory by trajectory
ONE_BY_ONE_ACTIONS = [
    ["right", "dance", "up", "left", "right"],
    ["down", "dance", "dance", "right", "right"],
    ["up", "dance", "left", "dance", "left"],
    ["down", "down", "dance", "down", "up"],
    ["dance", "left", "dance", "left", "left"],
    ["right", "right", "left", "up", "down"],
    ["right", "down", "dance", "left", "up"],
    ["left", "down", "up", "down", "left"],
]
VERL_AGENT_GIGPO = {
    "mean_norm": [
        -0.0818335,
        -0.2781781,
        0.0075594,
        0.0978094,
        0.2706046,
        -0.0818335,
        -0.2003829,
        -0.1146454,
        0.1756046,
        0.1928094,
        -0.0818335,
        -0.2003829,
        0.0853546,
        -0.1675,
        0.1275,
        -0.0818335,
        -0.0003829,
        -0.1146454,
        0.1756046,
        0.2706046,
        -0.3193358,
        -0.0378852,
        -0.1521477,
        0.1381023,
        0.2331023,
        -0.1193358,
        -0.0525425,
        0.015,
        0.123445,
        0.015,
        -0.1193358,
        -0.0525425,
        -0.166805,
        0.123445,
        0.2331023,
        -0.1193358,
        -0.0378852,
        0.0478523,
        0.015,
        0.2331023,
    ],
    "mean_std_norm": [
        -0.1680786,
        -2.8059095,
        0.4960874,
        1.0670777,
        2.372443,
        -0.1680786,
        -2.4286701,
        -1.8106382,
        1.6876432,
        1.6681202,
        -0.1680786,
        -2.4286701,
        1.0370834,
        -2.1959174,
        1.3451656,
        -0.1680786,
        0.4190515,
        -1.8106382,
        1.6876432,
        2.372443,
        -3.7939325,
        0.0768282,
        -2.742446,
        1.1836561,
        1.781134,
        -0.4354344,
        -0.271653,
        0.4094361,
        1.5029803,
        0.4094361,
        -0.4354344,
        -0.271653,
        -3.145048,
        1.5029803,
        1.781134,
        -0.4354344,
        0.0768282,
        0.6160521,
        0.4094361,
        1.781134,
    ],
}


@pytest.mark.parametrize("mode", sorted(VERL_AGENT_GIGPO))
def test_hook_on_a_played_batch_equals_verl_agents_gigpo(played_one_by_one, mode):
    batch = played_one_by_one
    assert [list(a) for a in batch.non_tensor_batch["anchorgym_actions"]] == ONE_BY_ONE_ACTIONS  # the recorded play
    settings = {"mode": mode, "stats": "step"}
    install(AnchorAdvantageSettings("gigpo", 0.95, settings, 0.1, invalid_action_penalty_mode="row"))
    out = ray_trainer.compute_advantage(batch, adv_estimator="anchorgym")
    assert out.meta_info["anchorgym_step_advantages"] == pytest.approx(VERL_AGENT_GIGPO[mode], abs=1e-6)
    position = 0
    for row in range(len(batch)):
        for start, end in batch.non_tensor_batch["anchorgym_spans"][row]:
            expected = [VERL_AGENT_GIGPO[mode][position]] * (end - start)
            assert out.batch["advantages"][row, start:end].tolist() == pytest.approx(expected, abs=1e-6)
            position += 1


class TinyModelServer:
    """verl's LLM server interface over the tiny Qwen2: samples each turn, returns the tokens' float32 log-probs."""

    def __init__(self, model, eos_id: int) -> None:
        self.model, self.eos_id, self.seed = model, eos_id, 0

    async def generate(self, *, request_id, prompt_ids, sampling_params, **kwargs):
        return await asyncio.to_thread(self._sample, list(prompt_ids))

    @torch.no_grad()
    def _sample(self, prompt):
        self.seed += 1
        torch.manual_seed(self.seed)
        out = self.model.generate(
            torch.tensor([prompt]),
            attention_mask=torch.ones(1, len(prompt), dtype=torch.long),
            do_sample=True,
            top_k=0,
            max_new_tokens=12,
            eos_token_id=self.eos_id,
            pad_token_id=self.eos_id,
            output_scores=True,
            return_dict_in_generate=True,
        )
        ids = out.sequences[0, len(prompt) :].tolist()
        logprobs = [float(torch.log_softmax(s[0].float(), -1)[t]) for s, t in zip(out.scores, ids, strict=False)]
        cut = ids.index(self.eos_id) + 1 if self.eos_id in ids else len(ids)
        return TokenOutput(token_ids=ids[:cut], log_probs=logprobs[:cut])


def test_tiny_model_log_probs_rescored_from_verls_padded_batch(played):
    """A forward pass over verl's input_ids / attention_mask / position_ids gives the sampler's log-probs."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(played["model"], dtype=torch.float32).eval()
    server = TinyModelServer(model, played["tokenizer"].eos_token_id)
    config = verl_config(played["model"])
    rows = episode_rows(ENV_ID, ["0"], split="test", max_steps=3)

    async def run():
        fields = {key: np.array([row[key] for row in rows], dtype=object) for key in ("data_source", "agent_name")}
        fields["extra_info"] = np.array([row["extra_info"] for row in rows], dtype=object)
        fields["raw_prompt"] = np.empty(1, dtype=object)
        fields["raw_prompt"][:] = [rows[0]["prompt"]]
        fields["index"], fields["uid"] = np.arange(1), np.array(["g"], dtype=object)
        batch = DataProto.from_dict(non_tensors=fields).repeat(2, interleave=True)
        return await AgentLoopWorker(config, server).generate_sequences(batch)

    batch = asyncio.run(run())
    width = batch.batch["responses"].shape[1]
    with torch.no_grad():
        logits = model(
            input_ids=batch.batch["input_ids"],
            attention_mask=batch.batch["attention_mask"],
            position_ids=batch.batch["position_ids"],
        ).logits[:, -width - 1 : -1]
    rescored = torch.log_softmax(logits, -1).gather(-1, batch.batch["responses"].unsqueeze(-1)).squeeze(-1)
    mask = batch.batch["response_mask"].bool()
    assert int(mask.sum()) > 10
    gap = (rescored - batch.batch["rollout_log_probs"])[mask].abs()
    assert float(gap.max()) < 1e-4  # a token off by one position would be off by whole nats


def test_a_protocol_env_sends_the_projected_actions_and_their_validity(played):
    """verl-agent's recorded Sokoban turns on the verl-agent env: its projected actions and validity flags."""
    cases = json.loads((Path(__file__).parents[1] / "protocols" / "data" / "verl_agent_cases.json").read_text())
    episode = cases["episodes"]["history_length_2"]["sokoban"]
    rows = episode_rows("anchorgym/Sokoban-verl-agent-v0", ["0"], split="test", max_steps=len(episode["turns"]))
    server = RecordedServer(played["tokenizer"], episode["turns"])
    batch, _ = rollout(verl_config(played["model"]), played["tokenizer"], rows, n=1, server=server)
    assert list(batch.non_tensor_batch["anchorgym_actions"][0]) == episode["actions"]
    assert list(batch.non_tensor_batch["anchorgym_valid"][0]) == [bool(v) for v in episode["valids"]]
    assert len(server.calls) == len(episode["turns"])


def test_a_one_turn_continuation_protocol_is_refused_clearly(played):
    """Search-R1's protocol continues one assistant message: the agent loop says so instead of mislaying it."""
    data = Path(__file__).parents[1] / "protocols" / "data"
    topk = json.loads((data / "search_r1_cases.json").read_text())["topk"]
    kwargs = {"dataset": str(data / "search_r1"), "topk": topk}
    rows = episode_rows("anchorgym/ToolQA-v2", ["q1"], split="dev", max_steps=4, env_kwargs=kwargs)
    server = RecordedServer(played["tokenizer"], ["<think>x</think><search> Ed Wood </search>"])
    with pytest.raises(ConfigError, match=r"^verl's agent loop cannot play anchorgym/ToolQA-v2: its protocol"):
        rollout(verl_config(played["model"]), played["tokenizer"], rows, n=1, server=server)
