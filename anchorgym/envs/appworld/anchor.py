"""AppWorld's anchor state: which task, plus a digest of the world's databases.

The worker (:func:`.worker.server.app_digest`) hashes AppWorld's own
per-record ``record_hash`` column over every table of each anchor app, sorted
per table: two trajectories that leave the databases holding the same records
get the same digest, whatever order they made the changes in, while code that
only reads (or fails) leaves it unchanged. Time is frozen in AppWorld, so
logins (which stamp ``last_logged_in``) do not split states either. An app's
digest is recomputed only after AppWorld's change tracker records a write to
it; a task's initial digests are computed once per worker.

For generated tasks the anchor apps are the task's app and ``supervisor``
(where the task's status and answer live); for AppWorld's own tasks they are
all of the task's apps.
"""

from __future__ import annotations

from typing import Any

ANCHOR_SUPPORT_APPS = ("supervisor",)


def anchor_apps(task_app: str | None) -> list[str] | None:
    """Return the apps whose databases the anchor covers (None: all of the task's apps).

    >>> anchor_apps("venmo")
    ['supervisor', 'venmo']
    >>> anchor_apps("phone+venmo")
    ['phone', 'supervisor', 'venmo']
    >>> anchor_apps(None) is None
    True
    """
    return None if task_app is None else sorted({*task_app.split("+"), *ANCHOR_SUPPORT_APPS})


def anchor_state(task_id: str, db_digest: str) -> dict[str, Any]:
    """Return the canonical anchor state of a world.

    >>> anchor_state("venmopay_1", "ab12")
    {'task': 'venmopay_1', 'db': 'ab12'}
    """
    return {"task": task_id, "db": db_digest}
