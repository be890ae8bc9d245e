"""Errors a user can cause, one type per kind.

Every message says what arrived, what was expected and how to fix it. The CLI
prints the message alone (no traceback) and exits with status 2.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class AnchorGymError(Exception):
    """Base class for every error caused by user input or the user's machine."""


class UnknownNameError(AnchorGymError, KeyError):
    """A name (env id, benchmark id, policy kind, anchor function...) is not registered."""

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0]) if self.args else ""


class ConfigError(AnchorGymError, ValueError):
    """A configuration value or combination of values is invalid."""


class DataNotFoundError(AnchorGymError, FileNotFoundError):
    """A data set an environment needs is not installed."""


class DependencyError(AnchorGymError, ImportError):
    """An optional dependency (an extra) is not installed."""


class PolicyError(AnchorGymError):
    """A policy spec is malformed, or a policy back-end cannot be reached."""


class EndpointError(PolicyError):
    """A remote endpoint (model server, retrieval server) failed or is unreachable."""


class WorkerError(AnchorGymError, RuntimeError):
    """A worker process or actor hosting environments died."""


class ResultError(AnchorGymError):
    """A result directory or file is missing, corrupt or inconsistent."""


class PluginError(AnchorGymError, ImportError):
    """A module named by ``--import`` or ``$ANCHORGYM_IMPORT`` cannot be imported."""


def suggest(name: str, choices: Iterable[str]) -> str:
    """Return a ' Did you mean ...?' suffix for ``name``, or '' when nothing is close."""
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.5)
    return f" Did you mean {close[0]!r}?" if close else ""


def unknown(kind: str, name: str, choices: Iterable[str], hint: str = "") -> UnknownNameError:
    """Build the standard "unknown X" error with the list of valid names and a suggestion."""
    choices = sorted(choices)
    listed = ", ".join(choices) if choices else "(none registered)"
    message = f"Unknown {kind} {name!r}.{suggest(name, choices)} Known: {listed}."
    return UnknownNameError(message + (f" {hint}" if hint else ""))


def missing_extra(package: str, extra: str) -> DependencyError:
    """Build the standard error for an optional dependency that is not installed."""
    return DependencyError(
        f"The optional dependency {package!r} is not installed. Install it with: pip install 'anchorgym[{extra}]'"
    )


class EnvTimeout(WorkerError):
    """An env worker did not finish a ``reset`` or ``step`` within its time limit; it was killed."""


class DiskFullError(ResultError):
    """A result file could not be written: the disk is full or a file-size limit was reached."""
