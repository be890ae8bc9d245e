"""Training metrics: one CSV row per iteration (always), TensorBoard and W&B optionally.

Keys are slash-separated. Besides the loss keys of :mod:`.losses`:

================================== =============================================================
key                                meaning
================================== =============================================================
``iteration``                      iterations completed
``rollout/success``                fraction of training episodes won
``rollout/return``                 mean episode return (env reward, before shaping)
``rollout/length``                 mean episode length in steps
``rollout/invalid``                fraction of steps with an invalid action
``rollout/tokens_per_s``           generated tokens per second during rollout
``rollout/prompt_tokens_per_s``    prompt tokens read per second during rollout (the prefill work)
``rollout/weight_sync_s``          seconds to copy the weights into the vLLM engine (vllm backend)
``samples/kept``                   samples trained on (after dynamic sampling)
``samples/dropped_groups``         groups dropped by dynamic sampling
``advantage/mean``                 mean advantage over kept samples
``advantage/abs_mean``             mean absolute advantage
``step_group/size_mean``           mean size of GiGPO step groups (episode group x anchor)
``step_group/size_max``            largest step group
``step_group/singleton``           fraction of steps alone in their step group
``anchors/aliasing``               share of steps in observation-text step groups of 2+ that mix true states
``anchors/splitting``              share of true states seen under more than one observation text
``update/lr``                      the learning rate of this iteration's update (after warm-up)
``update/tokens_per_s``            trained tokens per second in the update
``grad_norm``                      gradient norm before clipping (mean over steps)
``eval/success``                   evaluation success rate (on evaluation iterations)
``time/iteration_s``               wall time of the iteration
================================== =============================================================
"""

from __future__ import annotations

import csv
import os
import tempfile
from pathlib import Path
from typing import Any

from anchorgym.errors import missing_extra

METRICS_FILE = "metrics.csv"


class MetricsLogger:
    """Appends metric rows to ``metrics.csv``; the column set grows as new keys appear.

    Args:
        output_dir: the run directory.
        start_iteration: rows at or after this iteration are dropped (a resumed run redoes them).
        tensorboard: also write TensorBoard events.
        wandb_project: also log to this W&B project (empty: off).
    """

    def __init__(
        self, output_dir: Path, start_iteration: int = 0, tensorboard: bool = False, wandb_project: str = ""
    ) -> None:
        self.path = output_dir / METRICS_FILE
        self.rows = [r for r in read_metrics(self.path) if int(float(r["iteration"])) <= start_iteration]
        self.writers = _writers(output_dir, tensorboard, wandb_project)

    def log(self, row: dict[str, Any]) -> None:
        """Record one iteration's metrics (rewrites the CSV atomically)."""
        self.rows.append({key: _plain(value) for key, value in row.items()})
        columns = list(dict.fromkeys(key for r in self.rows for key in r))
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, suffix=".tmp")
        with os.fdopen(fd, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns)
            writer.writeheader()
            writer.writerows(self.rows)
        os.replace(tmp, self.path)
        for writer in self.writers:
            writer.log(row)

    def close(self) -> None:
        """Flush and close the TensorBoard and W&B writers (the CSV is always complete)."""
        for writer in self.writers:
            writer.close()
        self.writers = []


def read_metrics(path: Path) -> list[dict[str, str]]:
    """Read ``metrics.csv`` rows (empty list when absent)."""
    if not path.is_file():
        return []
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def _plain(value: Any) -> Any:
    return round(value, 8) if isinstance(value, float) else value


def _numbers(row: dict[str, Any]) -> dict[str, float]:
    return {k: v for k, v in row.items() if isinstance(v, int | float)}


class _TensorBoard:
    """Scalars under ``<run>/tensorboard``, flushed every iteration so a short or killed run keeps them."""

    def __init__(self, folder: Path) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as error:
            raise missing_extra("tensorboard", "tensorboard") from error
        self.board = SummaryWriter(str(folder))

    def log(self, row: dict[str, Any]) -> None:
        for key, value in _numbers(row).items():
            self.board.add_scalar(key, value, int(row["iteration"]))
        self.board.flush()

    def close(self) -> None:
        self.board.close()


class _WandB:
    """One W&B run per process (``WANDB_MODE=offline`` keeps it on disk under ``<run>/wandb``).

    ``run.finish()`` only *informs* W&B's service process that the run is over; the service
    writes and closes the run file later. :meth:`close` therefore also tears the service down
    (``wandb.teardown()`` waits for it to exit) when no other run of this process is active,
    so the run file is complete when :func:`~anchorgym.training.trainer.train` returns.
    """

    def __init__(self, project: str, folder: Path) -> None:
        try:
            import wandb
        except ImportError as error:
            raise missing_extra("wandb", "wandb") from error
        self.run = wandb.init(project=project, dir=str(folder))

    def log(self, row: dict[str, Any]) -> None:
        self.run.log(_numbers(row), step=int(row["iteration"]))

    def close(self) -> None:
        import wandb

        self.run.finish()
        if wandb.run is None:  # no other active run of this process needs the service
            wandb.teardown()


def _writers(output_dir: Path, tensorboard: bool, wandb_project: str) -> list[_TensorBoard | _WandB]:
    writers: list[_TensorBoard | _WandB] = []
    if tensorboard:
        writers.append(_TensorBoard(output_dir / "tensorboard"))
    if wandb_project:
        writers.append(_WandB(wandb_project, output_dir))
    return writers
