"""``anchorgym benchmarks | eval | compare | report``: the evaluation harness on the command line."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from anchorgym.errors import ConfigError, DiskFullError


def parse_seeds(text: str) -> list[int]:
    """Parse ``"0,1,2"`` or ``"0-4"`` (or a mix) into a list of seeds.

    >>> parse_seeds("0,2-4")
    [0, 2, 3, 4]
    """
    seeds: list[int] = []
    try:
        for part in filter(None, (p.strip() for p in text.split(","))):
            start, dash, stop = part.partition("-")
            seeds.extend(range(int(start), int(stop) + 1) if dash else [int(part)])
    except ValueError as error:
        raise ConfigError(f"--seeds must look like '0,1,2' or '0-4', got {text!r}.") from error
    if not seeds:
        raise ConfigError(f"--seeds must list at least one seed, got {text!r}.")
    return seeds


def parse_options(pairs: list[str]) -> dict[str, Any]:
    """Parse ``KEY=VALUE`` pairs; values are JSON when they parse as JSON, else strings.

    >>> parse_options(["max_retries=0", "device=cpu", "repair=true"])
    {'max_retries': 0, 'device': 'cpu', 'repair': True}
    """
    import json

    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--policy-option must look like KEY=VALUE, got {pair!r}.")
        try:
            options[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            options[key.strip()] = value
    return options


def register(subparsers: Any) -> None:
    """Add the harness subcommands."""
    listing = subparsers.add_parser("benchmarks", help="list the versioned benchmarks")
    listing.add_argument("--json", action="store_true", help="print the specs as JSON")
    listing.add_argument("--all", action="store_true", help="also list legacy versions (kept for old results)")
    listing.set_defaults(handler=_benchmarks)

    run = subparsers.add_parser("eval", help="evaluate a policy on a benchmark")
    run.add_argument("benchmark", help="benchmark id (see `anchorgym benchmarks`) or FILE.json[#ID]")
    run.add_argument("--policy", required=True, help="policy spec: random, expert, hf:PATH, openai:URL?model=M ...")
    run.add_argument("--seeds", default=None, help="evaluation seeds, e.g. 0,1,2 (default: spec's)")
    run.add_argument("--out", default=None, help="result directory (default runs/eval/BENCHMARK/POLICY)")
    run.add_argument("--num-workers", type=int, default=None, help="env worker processes (process backend when > 1)")
    run.add_argument(
        "--backend", choices=("sync", "process", "ray", "openenv"), default=None, help="vector env backend"
    )
    run.add_argument(
        "--env-url",
        action="append",
        default=[],
        metavar="URL",
        help="openenv backend: an OpenEnv server hosting the envs, started with "
        "`anchorgym env serve --benchmark BENCHMARK` (repeatable; implies --backend openenv)",
    )
    run.add_argument("--batch-size", type=int, default=None, help="episodes played at once (default up to 16)")
    run.add_argument(
        "--max-worker-rss-mb",
        type=float,
        default=None,
        help="process backend: restart an env worker whose memory grew past this, between episodes",
    )
    run.add_argument(
        "--step-timeout-s",
        type=float,
        default=None,
        help="time limit of one env step (default: the spec's, else 600 s on process/ray workers); a worker past "
        "it is killed and restarted, its episodes recorded as errored",
    )
    run.add_argument(
        "--reset-timeout-s",
        type=float,
        default=None,
        help="time limit of one env reset (default: the spec's, else 1800 s on process/ray workers)",
    )
    run.add_argument(
        "--ray-address",
        default=None,
        help="run the envs as actors on this Ray cluster (implies --backend ray; default: $RAY_ADDRESS, else a "
        "private local Ray)",
    )
    run.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")
    run.add_argument(
        "--retry-errored",
        action="store_true",
        help="with --resume: play the episodes whose env failed (recorded as errored) again",
    )
    run.add_argument("--temperature", type=float, default=None, help="sampling temperature (0: greedy)")
    run.add_argument("--top-p", type=float, default=None, help="nucleus sampling mass")
    run.add_argument("--max-new-tokens", type=int, default=None, help="cap on generated tokens per step")
    run.add_argument(
        "--policy-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="back-end option for make_policy, e.g. device=cpu or max_retries=2 (repeatable; values parsed as JSON)",
    )
    run.add_argument("--no-progress", action="store_true", help="hide the progress bar (and its log lines)")
    run.set_defaults(handler=_eval)

    cmp = subparsers.add_parser("compare", help="compare results of the same benchmark spec")
    cmp.add_argument("results", nargs="+", help="result directories (or result.json files)")
    cmp.set_defaults(handler=_compare)

    rep = subparsers.add_parser(
        "report", help="write a Markdown and an offline HTML report for a result, or the curves of a training run"
    )
    rep.add_argument(
        "result",
        help="result directory written by `anchorgym eval`, or a training run's output_dir (or a folder of runs, "
        "one per seed: their curves get a band over seeds)",
    )
    rep.add_argument("--examples", type=int, default=4, help="example trajectories to show")
    rep.set_defaults(handler=_report)


def _benchmarks(args: argparse.Namespace) -> int:
    """List the benchmarks; legacy versions (a higher ``@vN`` of the same name/split exists) only with ``--all``."""
    import json

    from anchorgym.envs.cli import current_ids
    from anchorgym.harness.compare import format_table
    from anchorgym.harness.specs import list_benchmarks

    specs = list_benchmarks()
    current = current_ids([s.id.replace("@v", "-v") for s in specs])
    is_current = {s.id: s.id.replace("@v", "-v") in current for s in specs}
    if args.json:
        print(json.dumps({s.id: {"spec_hash": s.content_hash(), "current": is_current[s.id], **s.raw} for s in specs},
                         indent=2))  # fmt: skip
        return 0
    shown = [s for s in specs if args.all or is_current[s.id]]
    rows = [
        [s.id + ("" if is_current[s.id] else " (legacy)"), s.env_id, _task_count(s), str(len(s.seeds)),
         str(s.max_steps), s.content_hash()[7:19]]
        for s in shown
    ]  # fmt: skip
    print(format_table(rows, ("benchmark", "env", "tasks", "seeds", "max steps", "spec hash")))
    hidden = len(specs) - len(shown)
    if hidden:
        print(f"{hidden} legacy benchmark versions hidden (kept for old results): anchorgym benchmarks --all")
    print("A benchmark's @vN versions its spec (tasks, env version, prompt, metrics); an env's -vN versions its "
          "rules. See the docs page 'Versions'.")  # fmt: skip
    return 0


def _task_count(spec: Any) -> str:
    if spec.num_tasks is not None:
        return str(spec.num_tasks)
    start, stop = spec.tasks["range"]
    return f"{stop - start} (split[{start}:{stop}])"


def generation_from_args(args: argparse.Namespace, defaults: dict[str, Any] | None = None) -> Any:
    """Build the GenerationConfig from the sampling options given over ``defaults`` (None when none were given)."""
    from anchorgym.policies.base import GenerationConfig

    given = {
        key: value
        for key, value in (
            ("temperature", args.temperature),
            ("top_p", args.top_p),
            ("max_new_tokens", args.max_new_tokens),
        )
        if value is not None
    }
    return GenerationConfig(**{**(defaults or {}), **given}) if given else None


def _eval(args: argparse.Namespace) -> int:
    from pathlib import Path

    from anchorgym.harness.compare import extra_names, format_table, summary_header, summary_row
    from anchorgym.harness.runner import default_out_dir, evaluate
    from anchorgym.harness.specs import load_benchmark

    spec = load_benchmark(args.benchmark)
    out = Path(args.out) if args.out else default_out_dir(spec, args.policy)
    if args.max_worker_rss_mb is not None and not args.max_worker_rss_mb > 0:
        raise ConfigError(f"--max-worker-rss-mb must be a positive number of MiB, got {args.max_worker_rss_mb:g}.")
    try:
        with stop_on_sigterm():
            result = evaluate(
                spec,
                args.policy,
                seeds=parse_seeds(args.seeds) if args.seeds is not None else None,
                out=out,
                resume=args.resume,
                retry_errored=args.retry_errored,
                generation=generation_from_args(args, spec.generation),
                batch_size=args.batch_size,
                backend=_backend(args),
                num_workers=args.num_workers,
                progress=not args.no_progress,
                policy_options=parse_options(args.policy_option),
                backend_options=_backend_options(args),
                reset_timeout_s=args.reset_timeout_s,
                step_timeout_s=args.step_timeout_s,
            )
    except KeyboardInterrupt as stop:
        name = "SIGTERM" if isinstance(stop, Terminated) else "SIGINT"
        print(
            f"stopped by {name}: the episodes finished so far are saved in {out}. Continue with: "
            f"{resume_command(args, out)}",
            file=sys.stderr,
        )
        return EXIT_SIGTERM if isinstance(stop, Terminated) else EXIT_SIGINT
    except DiskFullError as error:
        raise DiskFullError(f"{error} The command: {resume_command(args, out)}") from None
    print(format_table([summary_row(result, extras=extra_names([result]))], summary_header([result])))
    print(f"results: {out}  (report: anchorgym report {out})")
    return _report_errors(result)


EXIT_ERRORED = 3  # the run finished, but some episodes errored
EXIT_SIGINT, EXIT_SIGTERM = 130, 143  # 128 + the signal, as a shell reports a process the signal ended


class Terminated(KeyboardInterrupt):
    """Raised in the main thread when the process gets SIGTERM: the run stops as on Ctrl-C."""


@contextlib.contextmanager
def stop_on_sigterm() -> Iterator[None]:
    """While the block runs, SIGTERM raises :class:`Terminated` (a KeyboardInterrupt) instead of killing silently.

    The run's ``finally`` blocks then close the workers and release the lock, exactly as after Ctrl-C.
    """

    def handler(signum: int, frame: Any) -> None:
        raise Terminated()

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread (e.g. called from a worker thread): leave SIGTERM alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _backend(args: argparse.Namespace) -> str | None:
    if args.backend:
        return args.backend
    if args.env_url:
        return "openenv"
    if args.ray_address:
        return "ray"
    return "process" if args.max_worker_rss_mb is not None else None


def _backend_options(args: argparse.Namespace) -> dict[str, Any] | None:
    options = {
        **({"max_worker_rss_mb": args.max_worker_rss_mb} if args.max_worker_rss_mb is not None else {}),
        **({"urls": args.env_url} if args.env_url else {}),
        **({"address": args.ray_address} if args.ray_address else {}),
    }
    return options or None


RESUME_OPTIONS = (
    "seeds", "batch_size", "num_workers", "backend", "temperature", "top_p", "max_new_tokens", "max_worker_rss_mb",
    "step_timeout_s", "reset_timeout_s", "ray_address",
)  # fmt: skip


def resume_command(args: argparse.Namespace, out: Any) -> str:
    """Return the ``anchorgym eval ... --resume`` command that continues this run (its identity options kept)."""
    import shlex

    words = ["anchorgym", "eval", args.benchmark, "--policy", args.policy, "--out", str(out)]
    for name in RESUME_OPTIONS:
        value = getattr(args, name, None)
        if value is not None:
            words += [f"--{name.replace('_', '-')}", f"{value:g}" if isinstance(value, float) else str(value)]
    for option in args.policy_option:
        words += ["--policy-option", option]
    for url in args.env_url:
        words += ["--env-url", url]
    return shlex.join([*words, "--resume"])


def _report_errors(result: dict[str, Any]) -> int:
    """Say on stderr how many episodes errored and how to replay them; return the exit code."""
    errors = result.get("errors") or []
    if not errors:
        return 0
    total = result["metrics"]["episodes"] + len(errors)
    first = " ".join(str(errors[0]["error"]).split())  # one line, whatever the env's message
    print(
        f"warning: {len(errors)} of {total} episodes errored (first: task {errors[0]['task_id']}, "
        f"{first}); the metrics leave them out. "
        "Rerun the same command with --resume --retry-errored to play them again.",
        file=sys.stderr,
    )
    return EXIT_ERRORED


def _compare(args: argparse.Namespace) -> int:
    from anchorgym.harness.compare import compare

    print(compare(args.results))
    return 0


def _report(args: argparse.Namespace) -> int:
    from anchorgym.harness.report import write_report

    if not (Path(args.result) / "result.json").exists() and _is_training_run(Path(args.result)):
        # a training run's output_dir (or a folder of them): its curves, not an evaluation report
        from anchorgym.training.report import training_report

        print(f"html:   {training_report(args.result)}")
        return 0
    markdown, html = write_report(args.result, examples=args.examples)
    print(f"report: {markdown}\nhtml:   {html}")
    return 0


def _is_training_run(folder: Path) -> bool:
    """A training run's output_dir holds ``metrics.csv``; a folder of runs holds them one level down."""
    return (folder / "metrics.csv").is_file() or any(folder.glob("*/metrics.csv"))
