"""Leaderboard storage: SQLAlchemy tables, schema migrations, tokens, entries and the audit log.

SQLite file by default, PostgreSQL by URL. Migrations are kept simple: the
``schema_version`` table records how many steps of :data:`MIGRATIONS` have
run, and :func:`migrate` applies the rest in order, in one transaction, under a
database lock (a PostgreSQL advisory lock; for SQLite an exclusive lock on a
file beside the database), so processes opening a fresh database together never
race. Episodes files live on disk under the storage directory, named by entry id
only (never by anything a submitter sends), so no upload can choose a path.
"""

from __future__ import annotations

import fcntl
import hashlib
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    create_engine,
    event,
    func,
    inspect,
    make_url,
    select,
    text,
)
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from anchorgym.errors import ConfigError, DependencyError

MIGRATION_LOCK_KEY = 0x616E63686F72  # PostgreSQL advisory lock id ("anchor")


class Base(DeclarativeBase):
    """Declarative base of the leaderboard tables."""


class Token(Base):
    """A submitter's API token; only its SHA-256 is stored. A revoked token authenticates nothing."""

    __tablename__ = "tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    created: Mapped[str] = mapped_column(String(40))
    revoked: Mapped[str | None] = mapped_column(String(40), nullable=True, default=None)


class Entry(Base):
    """One accepted submission."""

    __tablename__ = "entries"
    __table_args__ = (
        Index("ix_entries_token_digest", "token_id", "digest", unique=True),
        Index("ix_entries_canonical", "canonical", unique=True),  # one entry per canonical run, across tokens
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_id: Mapped[int] = mapped_column(ForeignKey("tokens.id"))
    benchmark: Mapped[str] = mapped_column(String(200), index=True)
    spec_hash: Mapped[str] = mapped_column(String(80))  # "sha256:" + 64 hex digits
    policy: Mapped[str] = mapped_column(String(500))
    success: Mapped[float] = mapped_column(Float)
    success_low: Mapped[float] = mapped_column(Float)
    success_high: Mapped[float] = mapped_column(Float)
    score: Mapped[float] = mapped_column(Float)
    seeds: Mapped[str] = mapped_column(Text)  # declared seeds, comma-separated (any number of them)
    created: Mapped[str] = mapped_column(String(40))
    result_json: Mapped[str] = mapped_column(Text)
    replay_status: Mapped[str] = mapped_column(String(20), default="pending")
    replay_detail: Mapped[str] = mapped_column(Text, default="")
    # version 3
    digest: Mapped[str | None] = mapped_column(String(80), nullable=True, default=None)  # episodes.jsonl SHA-256
    episodes: Mapped[int] = mapped_column(Integer, default=0)
    tokens: Mapped[str] = mapped_column(String(20), default="none")  # "none" or "self-reported"
    replay_progress: Mapped[int] = mapped_column(Integer, default=0)  # episodes replayed and matching so far
    replay_seconds: Mapped[float] = mapped_column(Float, default=0.0)  # replay time spent so far
    rerun_status: Mapped[str] = mapped_column(String(20), default="")  # "", "verified" or "flagged"
    rerun_detail: Mapped[str] = mapped_column(Text, default="")
    # version 4
    replay_version: Mapped[int] = mapped_column(Integer, default=0)  # the replay rules of the verdict (0: none yet)
    canonical: Mapped[str | None] = mapped_column(String(80), nullable=True, default=None)  # canonical episodes
    stored_bytes: Mapped[int] = mapped_column(Integer, default=0)  # size of the episodes file kept on disk
    replay_attempts: Mapped[int] = mapped_column(Integer, default=0)  # server-side failures retried so far


class Audit(Base):
    """One submission or status change: who did what to which entry, and when."""

    __tablename__ = "audit"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(200))  # a token's name, "server" or "admin"
    action: Mapped[str] = mapped_column(String(40), index=True)
    entry_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    detail: Mapped[str] = mapped_column(Text, default="")


def _create_tables(connection: Connection) -> None:
    Base.metadata.create_all(connection)


def _widen_hash_and_seeds(connection: Connection) -> None:
    # Version 1 had spec_hash VARCHAR(64), too short for "sha256:<64 hex>", and seeds VARCHAR(500).
    # SQLite never enforces VARCHAR lengths (and cannot ALTER a column's type), so only others change.
    if connection.dialect.name == "sqlite":
        return
    connection.execute(text("ALTER TABLE entries ALTER COLUMN spec_hash TYPE VARCHAR(80)"))
    connection.execute(text("ALTER TABLE entries ALTER COLUMN seeds TYPE TEXT"))


_VERSION_3_COLUMNS = {
    "tokens": {"revoked": "VARCHAR(40)"},
    "entries": {
        "digest": "VARCHAR(80)",
        "episodes": "INTEGER NOT NULL DEFAULT 0",
        "tokens": "VARCHAR(20) NOT NULL DEFAULT 'none'",
        "replay_progress": "INTEGER NOT NULL DEFAULT 0",
        "replay_seconds": "FLOAT NOT NULL DEFAULT 0",
        "rerun_status": "VARCHAR(20) NOT NULL DEFAULT ''",
        "rerun_detail": "TEXT NOT NULL DEFAULT ''",
    },
}


def _provenance_and_bounded_replay(connection: Connection) -> None:
    # Revocable tokens, deduplication digests, resumable replays, re-run results and the audit table.
    _add_columns(connection, _VERSION_3_COLUMNS)
    connection.execute(text("CREATE UNIQUE INDEX IF NOT EXISTS ix_entries_token_digest ON entries (token_id, digest)"))
    Base.metadata.create_all(connection, tables=[Audit.__table__])


_VERSION_4_COLUMNS = {
    "entries": {
        # verdicts given before replay versions existed are version 1: the next start re-queues them
        "replay_version": "INTEGER NOT NULL DEFAULT 1",
        "canonical": "VARCHAR(80)",
        "stored_bytes": "INTEGER NOT NULL DEFAULT 0",
        "replay_attempts": "INTEGER NOT NULL DEFAULT 0",
    },
}


def _versioned_verdicts_and_canonical_records(connection: Connection) -> None:
    # Replay versions on verdicts, canonical digests (copies across submitters), stored sizes (quotas).
    _add_columns(connection, _VERSION_4_COLUMNS)
    connection.execute(text("CREATE UNIQUE INDEX IF NOT EXISTS ix_entries_canonical ON entries (canonical)"))


def _add_columns(connection: Connection, tables: dict[str, dict[str, str]]) -> None:
    for table, columns in tables.items():
        present = {column["name"] for column in inspect(connection).get_columns(table)}
        for name, kind in columns.items():
            if name not in present:
                connection.execute(text(f"ALTER TABLE {table} ADD COLUMN {name} {kind}"))


# Append-only: each step upgrades the schema by one version (write later steps as explicit DDL,
# e.g. ALTER TABLE, and change the matching mapped column). Never edit a released step. Step 1
# creates the tables from the current models, so on a new database later steps must be no-ops.
MIGRATIONS: list[Callable[[Connection], None]] = [
    _create_tables,
    _widen_hash_and_seeds,
    _provenance_and_bounded_replay,
    _versioned_verdicts_and_canonical_records,
]


@contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    """Hold an exclusive lock for migrating (SQLite: a lock file beside the database; else nothing here)."""
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:":
        yield
        return
    with open(f"{database}.migrate-lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def migrate(engine: Engine) -> int:
    """Apply pending migrations under a database lock; return the schema version now in force."""
    with _migration_lock(engine), engine.begin() as connection:
        if connection.dialect.name == "postgresql":  # released when the transaction ends
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        connection.execute(text("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)"))
        version = int(connection.execute(text("SELECT MAX(version) FROM schema_version")).scalar() or 0)
        for step in range(version, len(MIGRATIONS)):
            MIGRATIONS[step](connection)
            connection.execute(text("INSERT INTO schema_version (version) VALUES (:v)"), {"v": step + 1})
    return len(MIGRATIONS)


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # noqa: ANN001 - DB-API connection
    # WAL lets readers run beside the one writer; the busy timeout makes concurrent writers wait, not fail.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def open_database(url: str) -> sessionmaker[Session]:
    """Connect to ``url`` (``sqlite:///path`` or a PostgreSQL URL), migrate, and return a session factory.

    Raises:
        DependencyError: the URL's database driver is not installed.
        ConfigError: the URL is malformed or the database cannot be reached.
    """
    try:
        engine = create_engine(url)
    except ImportError as error:
        raise DependencyError(
            f"No driver for {safe_url(url)} ({error}): install it, e.g. pip install 'psycopg[binary]' "
            "for postgresql:// (SQLAlchemy's default PostgreSQL driver)."
        ) from error
    except ArgumentError as error:
        raise ConfigError(f"{safe_url(url)} is not a database URL: use sqlite:///FILE or postgresql://...") from error
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    try:
        migrate(engine)
    except OperationalError as error:
        reason = str(error.orig).strip().splitlines()[0] if error.orig else type(error).__name__
        raise ConfigError(f"Cannot open the leaderboard database {safe_url(url)}: {reason}") from error
    return sessionmaker(engine, expire_on_commit=False)


def safe_url(url: str) -> str:
    """Return ``url`` with any password masked, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(malformed database URL)"


def now() -> str:
    """Return the current UTC time in ISO format."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def hash_token(token: str) -> str:
    """Return the stored form of a token (SHA-256 hex: tokens are random, so no salt is needed)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def audit(session: Session, actor: str, action: str, entry_id: int | None = None, detail: str = "") -> None:
    """Add an audit row to ``session`` (committed with the change it describes)."""
    session.add(Audit(at=now(), actor=actor[:200], action=action[:40], entry_id=entry_id, detail=detail))


def create_token(sessions: sessionmaker[Session], name: str) -> str:
    """Issue a new token for ``name``; the plain token is returned once and never stored."""
    token = secrets.token_urlsafe(32)
    with sessions.begin() as session:
        if session.scalar(select(Token).where(Token.name == name)) is not None:
            raise ConfigError(
                f"A token named {name!r} already exists: rotate it with 'anchorgym leaderboard token rotate {name}'."
            )
        session.add(Token(name=name, token_hash=hash_token(token), created=now()))
        audit(session, "admin", "token-create", detail=name)
    return token


def _named_token(session: Session, name: str) -> Token:
    token = session.scalar(select(Token).where(Token.name == name))
    if token is None:
        known = ", ".join(session.scalars(select(Token.name).order_by(Token.name))) or "(none)"
        raise ConfigError(f"No token named {name!r}. Known: {known}.")
    return token


def revoke_token(sessions: sessionmaker[Session], name: str) -> None:
    """Revoke ``name``'s token: it no longer authenticates; its entries stay, showing the submitter."""
    with sessions.begin() as session:
        token = _named_token(session, name)
        if token.revoked is None:
            token.revoked = now()
            audit(session, "admin", "token-revoke", detail=name)


def rotate_token(sessions: sessionmaker[Session], name: str) -> str:
    """Replace ``name``'s token by a new one (the old stops working, a revoked one works again); return it."""
    token = secrets.token_urlsafe(32)
    with sessions.begin() as session:
        row = _named_token(session, name)
        row.token_hash, row.revoked = hash_token(token), None
        audit(session, "admin", "token-rotate", detail=name)
    return token


def list_tokens(sessions: sessionmaker[Session]) -> list[dict[str, Any]]:
    """Every token's name, creation time, revocation time (or None) and entry count."""
    counts = select(Entry.token_id, func.count(Entry.id).label("n")).group_by(Entry.token_id).subquery()
    query = select(Token.name, Token.created, Token.revoked, counts.c.n).outerjoin(
        counts, counts.c.token_id == Token.id
    )
    with sessions() as session:
        rows = session.execute(query.order_by(Token.name)).all()
    return [{"name": n, "created": c, "revoked": r, "entries": int(k or 0)} for n, c, r, k in rows]


def find_token(sessions: sessionmaker[Session], token: str) -> Token | None:
    """Return the unrevoked token row matching ``token``, or None."""
    with sessions() as session:
        return session.scalar(select(Token).where(Token.token_hash == hash_token(token), Token.revoked.is_(None)))


def episodes_path(storage: Path, entry_id: int) -> Path:
    """Where an entry's episodes file lives (named by the integer id alone)."""
    return storage / f"entry-{int(entry_id)}.episodes.jsonl"
