r"""Launch verl's PPO trainer with anchorgym's agent loop and advantage hook.

Usage (verl's Hydra overrides, plus the ``anchorgym`` settings of
:class:`~anchorgym.integrations.verl.advantage.AnchorAdvantageSettings`)::

    python -m anchorgym.integrations.verl.main \
        algorithm.adv_estimator=anchorgym +anchorgym.estimator=gigpo \
        +anchorgym.options.mode=mean_norm +anchorgym.options.stats=step \
        data.train_files=rows/train.parquet ...

It composes verl's ``ppo_trainer`` config with the overrides, points
``actor_rollout_ref.rollout.agent.agent_loop_config_path`` at anchorgym's agent loop when it is
unset, and runs verl's ``run_ppo`` with a task runner that installs the advantage hook in its own
process before building verl's ``RayPPOTrainer``. The hook needs the trainer that calls
``ray_trainer.compute_advantage`` (``trainer.use_v1=false``): verl 0.9's V1 trainer reads only fixed
fields back from its TransferQueue, so the per-turn anchors never reach its advantage step.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from anchorgym.errors import AnchorGymError, ConfigError
from anchorgym.integrations.verl import AGENT_LOOP_CONFIG, missing_verl
from anchorgym.integrations.verl.advantage import ESTIMATOR_NAME, AnchorAdvantageSettings, install


def compose(overrides: Sequence[str]) -> Any:
    """Return verl's ``ppo_trainer`` config with ``overrides`` applied and anchorgym's defaults filled in.

    Raises:
        ConfigError: the V1 trainer is selected with the anchorgym estimator, or the settings are wrong.
    """
    try:
        import hydra
        from omegaconf import open_dict
        from verl.trainer import main_ppo
    except ImportError as error:  # pragma: no cover - depends on the installed extras
        raise missing_verl() from error
    config_dir = Path(main_ppo.__file__).with_name("config")
    with hydra.initialize_config_dir(config_dir=str(config_dir), version_base=None):
        config = hydra.compose(config_name="ppo_trainer", overrides=list(overrides))
    AnchorAdvantageSettings.from_mapping(config.get("anchorgym"))  # fail here, not inside a Ray actor
    if config.algorithm.adv_estimator == ESTIMATOR_NAME and config.trainer.use_v1:
        raise ConfigError(
            "algorithm.adv_estimator=anchorgym runs in verl's RayPPOTrainer: add trainer.use_v1=false "
            "(verl 0.9's V1 trainer does not pass the agent loop's per-turn fields to its advantage step)."
        )
    agent = config.actor_rollout_ref.rollout.agent
    if not agent.get("agent_loop_config_path"):
        with open_dict(agent):
            agent.agent_loop_config_path = str(AGENT_LOOP_CONFIG)
    return config


def task_runner_class() -> Any:
    """Return verl's legacy task runner as a Ray actor that installs the hook before training."""
    import ray
    from verl.trainer.main_ppo_v0 import TaskRunner

    class AnchorTaskRunner(TaskRunner.__ray_actor_class__):  # type: ignore[name-defined,misc]
        """verl's ``TaskRunner`` with anchorgym's advantage hook installed in its process."""

        def run(self, config: Any) -> Any:
            install(AnchorAdvantageSettings.from_mapping(config.get("anchorgym")))
            return super().run(config)

    return ray.remote(AnchorTaskRunner)


def main(argv: Sequence[str] | None = None) -> int:
    """Compose the config from ``argv`` (Hydra overrides) and train; a bad config or a missing verl is one line."""
    try:
        config = compose(sys.argv[1:] if argv is None else argv)
    except AnchorGymError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    from verl.trainer.main_ppo import run_ppo
    from verl.trainer.ppo.utils import need_critic, need_reference_policy
    from verl.utils.config import validate_config
    from verl.utils.device import auto_set_device

    auto_set_device(config)
    validate_config(config=config, use_reference_policy=need_reference_policy(config), use_critic=need_critic(config))
    run_ppo(config, task_runner_class=task_runner_class())
    return 0


if __name__ == "__main__":
    sys.exit(main())
