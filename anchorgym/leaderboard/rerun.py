"""Re-run verification: the operator re-evaluates a sample of an entry's (task, seed) pairs with its policy.

Replay proves the recorded actions produce the recorded outcomes; it cannot tell which policy chose the
actions. A re-run plays sampled pairs again through :func:`anchorgym.harness.evaluate` with the policy the
entry names, which catches episodes copied between seeds and relabelled policies:

* ``exact``: the ``random`` policy, the ``expert`` and greedy model policies (temperature 0) must reproduce
  each sampled episode's actions step by step, its success and its score. Only the sampled tasks are played,
  in a batch of their own: a run seeded per episode (``run.seed_scheme`` ``episode-v1``) does not depend on
  its batch size, so a batch size picked among several for its luck is caught. A ``random`` run seeded per
  batch (earlier releases) repeats only as whole passes at its own batch size: those are played and
  compared, and the verdict is at best ``inconclusive`` (its batch size may have been cherry-picked);
* ``distribution``: for a sampling model policy, the re-run's wins are tested against the entry's claimed
  success rate ``p`` with an exact one-sided binomial test. Its sample size ``n`` and critical count ``k``
  are chosen for power (:func:`power_plan`): an honest policy (true rate ``p``) is flagged with probability at
  most ``alpha`` (false reject), and a policy whose true rate is ``p - effect`` passes with probability at most
  ``beta`` (false accept). Pairs are played one at a time and the test stops as soon as its verdict is
  certain (curtailed sampling: the same error rates, fewer episodes). With fewer pairs in the benchmark than
  ``n``, every pair is played and an accept is ``inconclusive`` (the achieved false-accept rate is shown).

Verdicts: ``verified`` (the entry joins the re-run verified tier), ``flagged`` (the re-run disagrees:
unranked), ``failed`` (the re-run could not play the submission's config: unranked, with the reason),
``inconclusive`` (too few pairs for the power asked, or a per-batch-seeded run: it stays in the replay
verified tier). Only ``expert``,
``random`` and the model policy specs the operator allows are run.
"""

from __future__ import annotations

import dataclasses
import json
import random
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from anchorgym.errors import AnchorGymError, ConfigError
from anchorgym.leaderboard.storage import Entry, audit, episodes_path

ALWAYS_ALLOWED = ("expert", "random")
DEFAULT_EFFECT = 0.2  # the smallest inflation of a success rate the operator wants caught
DEFAULT_ALPHA = 0.01  # false-reject rate: an honest sampling policy flagged
DEFAULT_BETA = 0.05  # false-accept rate at the effect size: an inflated claim passed
MAX_DISTRIBUTION_SAMPLE = 2000
Key = tuple[int, str, int]  # (seed, task_id, episode)


@dataclass(frozen=True)
class PowerPlan:
    """An exact one-sided binomial test of a claimed success rate.

    Attributes:
        n: episodes to re-run.
        k: flag when the re-run wins at most ``k`` of them (-1: no outcome can flag).
        false_reject: P(flag | the policy's true rate is the claim).
        false_accept: P(pass | the true rate is the claim minus the effect).
    """

    n: int
    k: int
    false_reject: float
    false_accept: float


def critical_count(n: int, claimed: float, alpha: float) -> int:
    """The largest win count ``k`` with P(wins <= k | n, claimed) <= alpha (-1 when even 0 wins is likelier)."""
    from scipy.stats import binom

    k = int(binom.ppf(alpha, n, claimed))
    while k >= 0 and binom.cdf(k, n, claimed) > alpha:
        k -= 1
    while binom.cdf(k + 1, n, claimed) <= alpha and k + 1 < n:
        k += 1
    return k


def plan_for(n: int, claimed: float, effect: float, alpha: float) -> PowerPlan:
    """The test on ``n`` episodes and its error rates."""
    from scipy.stats import binom

    k = critical_count(n, claimed, alpha)
    false_reject = float(binom.cdf(k, n, claimed)) if k >= 0 else 0.0
    false_accept = 1.0 - float(binom.cdf(k, n, max(claimed - effect, 0.0))) if k >= 0 else 1.0
    return PowerPlan(n, k, false_reject, false_accept)


def power_plan(
    claimed: float,
    effect: float = DEFAULT_EFFECT,
    alpha: float = DEFAULT_ALPHA,
    beta: float = DEFAULT_BETA,
    max_n: int = MAX_DISTRIBUTION_SAMPLE,
) -> PowerPlan:
    """A small test of ``claimed`` with false-reject <= ``alpha`` and false-accept <= ``beta`` at ``effect``.

    Returns the test on ``max_n`` episodes when none smaller reaches the power.

    Example: a claimed 0.5 against an effect of 0.2 at alpha 1% and beta 5% needs n = 96 episodes (flagged at
    36 wins or fewer; false reject 0.0092, false accept 0.0454); a claimed 0.9 needs n = 61.
    """
    if not 0 < effect <= 1 or not 0 < alpha < 1 or not 0 < beta < 1:
        raise ConfigError(f"effect, alpha and beta must be in (0, 1]; got {effect}, {alpha}, {beta}.")
    low, high = 1, max_n
    if plan_for(high, claimed, effect, alpha).false_accept > beta:
        return plan_for(high, claimed, effect, alpha)
    while low < high:  # the false-accept rate is not monotone in n by a little: bisect, then step down
        middle = (low + high) // 2
        if plan_for(middle, claimed, effect, alpha).false_accept <= beta:
            high = middle
        else:
            low = middle + 1
    return plan_for(low, claimed, effect, alpha)


def _outcomes(path: Path) -> dict[Key, dict[str, Any]]:
    """Each episode's actions, success and score, keyed by (seed, task_id, episode)."""
    found = {}
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            key = (record["seed"], record["task_id"], record["episode"])
            found[key] = {
                "actions": [s["action"] for s in record["steps"]],
                "won": bool(record["won"]),
                "score": float(record["score"]),
            }
    return found


def _mode(policy: dict[str, Any], run: dict[str, Any]) -> str:
    generation = policy.get("generation") or {}
    if policy.get("spec") == "random" and run.get("seed_scheme", "batch") == "batch":
        return "exact-pass"  # seeded per batch (releases before per-episode seeds): only whole passes repeat
    if policy.get("spec") in ALWAYS_ALLOWED or generation.get("temperature") == 0:
        return "exact"
    return "distribution"


def _check_config(result: dict[str, Any], spec: Any) -> Any:
    """The submission's generation config, checked and bounded as on submit (old entries were not).

    Raises:
        ResultError: an unknown key or an out-of-bounds value.
    """
    from anchorgym.leaderboard.verify import _declared_count, check_policy_config
    from anchorgym.policies.base import GenerationConfig

    check_policy_config(result, _declared_count(spec))
    generation = result["policy"].get("generation")
    return GenerationConfig(**generation) if isinstance(generation, dict) else None


class Player:
    """Plays pairs of a benchmark with one policy, built once (a model is loaded once for the whole re-run)."""

    def __init__(self, spec: Any, policy: dict[str, Any], generation: Any, folder: Path) -> None:
        from anchorgym.harness.runner import make_run_policy

        self.spec, self.folder, self.runs = spec, folder, 0
        named = policy["spec"]
        self.policy = named if named in ALWAYS_ALLOWED else make_run_policy(named, generation, {})

    def play(
        self, seed: int, tasks: list[str] | None, batch_size: int | None, seed_scheme: str | None = None
    ) -> dict[Key, dict[str, Any]]:
        """Play ``tasks`` (None: the whole pass, with ``batch_size``) of ``seed``; return their outcomes.

        Only the sampled tasks are played, in one batch of their own (a batch size unlike the submission's):
        a policy seeded per episode (``episode-v1``) must choose the same actions whatever the batch.
        """
        from anchorgym.harness import evaluate

        spec = self.spec
        if tasks is not None:  # only the sampled tasks: the policy's choices do not depend on the batch
            spec = dataclasses.replace(spec, tasks=tasks, raw={**spec.raw, "tasks": tasks})
        self.runs += 1
        out = self.folder / str(self.runs)
        batch = batch_size if tasks is None else None
        evaluate(spec, self.policy, seeds=[seed], out=out, progress=False, batch_size=batch, seed_scheme=seed_scheme)
        return _outcomes(out / "episodes.jsonl")


def _first_difference(submitted: dict[str, Any], replayed: dict[str, Any]) -> str:
    """Where a re-run episode first departs from the submitted one (step by step)."""
    for number, (mine, theirs) in enumerate(zip(submitted["actions"], replayed["actions"], strict=False), start=1):
        if mine != theirs:
            return f"step {number}: the policy chose {theirs[:80]!r}, the submission {mine[:80]!r}"
    if len(submitted["actions"]) != len(replayed["actions"]):
        return f"the re-run took {len(replayed['actions'])} steps, the submission {len(submitted['actions'])}"
    return f"the outcome differs (won={replayed['won']}, score={replayed['score']})"


def _exact(player: Player, mode: str, submitted: dict[Key, dict], chosen: list[tuple[int, str]], batch: int):  # noqa: ANN202
    if mode == "exact-pass":  # whole passes are played anyway: every episode of their seeds is compared
        keys = sorted(k for k in submitted if k[0] in {s for s, _ in chosen})
    else:
        keys = sorted(k for k in submitted if (k[0], k[1]) in set(chosen))
    replayed: dict[Key, dict] = {}
    for run_seed in sorted({s for s, _ in chosen}):
        tasks = None if mode == "exact-pass" else sorted({t for s, t in chosen if s == run_seed})
        replayed.update(player.play(run_seed, tasks, batch, "batch" if mode == "exact-pass" else None))
    differ = [k for k in keys if submitted[k] != replayed[k]]
    if differ:
        seed, task, episode = differ[0]
        return "flagged", (
            f"{len(differ)} of {len(keys)} re-run episodes differ from the submitted ones, e.g. seed {seed}, "
            f"task {task!r}, {_first_difference(submitted[differ[0]], replayed[differ[0]])}: the policy named does "
            "not reproduce them"
        )
    if mode == "exact-pass":
        return "inconclusive", (
            f"{len(keys)} sampled episodes re-run with identical actions and outcomes at the submitted batch size; "
            "the run seeded its policy per batch, so its batch size may have been picked among several: "
            "evaluate again with this release (per-episode seeds) for the re-run verified tier"
        )
    return "verified", f"{len(keys)} sampled episodes re-run with identical actions and outcomes"


def _distribution(player: Player, claimed: float, order: list[Key], plan: PowerPlan, beta: float) -> tuple[str, str]:
    """The curtailed binomial test: play ``order``'s episodes until the verdict is certain."""
    wins = played = 0
    for seed, task, episode in order[: plan.n]:
        outcome = player.play(seed, [task], None)
        wins += bool(outcome[(seed, task, episode)]["won"])
        played += 1
        if wins > plan.k or wins + (plan.n - played) <= plan.k:  # the verdict can no longer change
            break
    rates = f"false reject {plan.false_reject:.4f}, false accept {plan.false_accept:.4f}"
    detail = (
        f"{wins} wins in {played} re-run episodes against a claimed success of {claimed:.3f} (exact binomial test on "
        f"{plan.n} episodes, flagged at {plan.k} wins or fewer; {rates})"
    )
    if wins <= plan.k:
        return "flagged", detail + ": the policy named does not reach the claimed success"
    if plan.false_accept > beta:
        return "inconclusive", detail + f": the benchmark has too few episodes for a false accept of at most {beta}"
    return "verified", detail


def rerun_entry(
    sessions: sessionmaker[Session],
    storage: str | Path,
    entry_id: int,
    sample: int | None = None,
    allowed: list[str] | tuple[str, ...] = (),
    seed: int | None = None,
    effect: float = DEFAULT_EFFECT,
    alpha: float = DEFAULT_ALPHA,
    beta: float = DEFAULT_BETA,
) -> tuple[str, str]:
    """Re-run a sample of entry ``entry_id``; record and return ``(status, detail)``.

    Args:
        sessions: the database.
        storage: the episodes files' folder.
        entry_id: the entry.
        sample: (task, seed) pairs of an exact re-run (default 8); a sampling policy's sample size comes from
            :func:`power_plan` (``sample`` then caps it).
        allowed: model policy specs this server may run (expert and random always may).
        seed: seed of the sample (default: random).
        effect: the smallest inflation of the success rate the test should catch (sampling policies).
        alpha: the false-reject rate allowed (an honest sampling policy flagged).
        beta: the false-accept rate allowed at ``effect``.

    Raises:
        ConfigError: no such entry, a sample below 1, or a policy the operator does not allow.
    """
    from anchorgym.harness.specs import load_benchmark

    with sessions() as session:
        entry = session.get(Entry, entry_id)
    if entry is None:
        raise ConfigError(f"No entry {entry_id} in this leaderboard.")
    if sample is not None and sample < 1:
        raise ConfigError(f"--sample must be at least 1, got {sample}.")
    result = json.loads(entry.result_json)
    policy = result["policy"]
    if policy.get("spec") not in (*ALWAYS_ALLOWED, *allowed):
        raise ConfigError(
            f"Entry {entry_id} names policy {policy.get('spec')!r}, which this server does not run: "
            f"pass --allow-policy {policy.get('spec')} to re-run it (expert and random are always allowed). "
            "Until a re-run agrees, it ranks only in the replay verified tier, its policy the submitter's word."
        )
    spec, submitted = load_benchmark(result["benchmark"]["id"]), _outcomes(episodes_path(Path(storage), entry_id))
    rng, mode = random.Random(seed), _mode(policy, result["run"])
    try:
        with tempfile.TemporaryDirectory(prefix="anchorgym-rerun-") as folder:
            player = Player(spec, policy, _check_config(result, spec), Path(folder))
            if mode == "distribution":
                claimed = float(entry.success)
                plan = power_plan(claimed, effect, alpha, beta, min(sample or MAX_DISTRIBUTION_SAMPLE, len(submitted)))
                status, detail = _distribution(player, claimed, rng.sample(sorted(submitted), plan.n), plan, beta)
            else:
                pairs = sorted({(s, t) for s, t, _ in submitted})
                chosen = rng.sample(pairs, min(sample or 8, len(pairs)))
                status, detail = _exact(player, mode, submitted, chosen, int(result["run"]["batch_size"]))
    except (AnchorGymError, TypeError, ValueError, KeyError, MemoryError, OverflowError) as error:
        # the submission's config cannot be played: a clear failed verdict, never a silent pass
        status, detail = "failed", f"the re-run could not play the submitted config: {type(error).__name__}: {error}"
        detail = detail[:1000]
    with sessions.begin() as session:
        row = session.get(Entry, entry_id)
        row.rerun_status, row.rerun_detail = status, detail
        audit(session, "admin", f"rerun-{status}", entry_id, detail)
    return status, detail
