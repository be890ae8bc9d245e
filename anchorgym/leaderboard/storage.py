"""Leaderboard storage: SQLAlchemy tables, schema migrations, tokens and entries.

SQLite file by default, PostgreSQL by URL. Migrations are kept simple: the
``schema_version`` table records how many steps of :data:`MIGRATIONS` have
run, and :func:`open_database` applies the rest in order. Episodes files live
on disk under the storage directory, named by entry id only (never by
anything a submitter sends), so no upload can choose a path.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import Engine, Float, ForeignKey, Integer, String, Text, create_engine, event, make_url, select, text
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from anchorgym.errors import ConfigError, DependencyError


class Base(DeclarativeBase):
    """Declarative base of the leaderboard tables."""


class Token(Base):
    """A submitter's API token; only its SHA-256 is stored."""

    __tablename__ = "tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    created: Mapped[str] = mapped_column(String(40))


class Entry(Base):
    """One accepted submission."""

    __tablename__ = "entries"
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


def _create_tables(engine: Engine) -> None:
    Base.metadata.create_all(engine)


def _widen_hash_and_seeds(engine: Engine) -> None:
    # Version 1 had spec_hash VARCHAR(64), too short for "sha256:<64 hex>", and seeds VARCHAR(500).
    # SQLite never enforces VARCHAR lengths (and cannot ALTER a column's type), so only others change.
    if engine.dialect.name == "sqlite":
        return
    with engine.begin() as connection:
        connection.execute(text("ALTER TABLE entries ALTER COLUMN spec_hash TYPE VARCHAR(80)"))
        connection.execute(text("ALTER TABLE entries ALTER COLUMN seeds TYPE TEXT"))


# Append-only: each step upgrades the schema by one version (write later steps as explicit DDL,
# e.g. ALTER TABLE, and change the matching mapped column). Never edit a released step. Step 1
# creates the tables from the current models, so on a new database later steps must be no-ops.
MIGRATIONS: list[Callable[[Engine], None]] = [_create_tables, _widen_hash_and_seeds]


def _schema_version(engine: Engine) -> int:
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)"))
        version = connection.execute(text("SELECT MAX(version) FROM schema_version")).scalar()
    return int(version or 0)


def migrate(engine: Engine) -> int:
    """Apply pending migrations; return the schema version now in force."""
    version = _schema_version(engine)
    for step in range(version, len(MIGRATIONS)):
        MIGRATIONS[step](engine)
        with engine.begin() as connection:
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


def create_token(sessions: sessionmaker[Session], name: str) -> str:
    """Issue a new token for ``name``; the plain token is returned once and never stored."""
    token = secrets.token_urlsafe(32)
    with sessions.begin() as session:
        if session.scalar(select(Token).where(Token.name == name)) is not None:
            raise ConfigError(f"A token named {name!r} already exists.")
        session.add(Token(name=name, token_hash=hash_token(token), created=now()))
    return token


def find_token(sessions: sessionmaker[Session], token: str) -> Token | None:
    """Return the token row matching ``token``, or None."""
    with sessions() as session:
        return session.scalar(select(Token).where(Token.token_hash == hash_token(token)))


def episodes_path(storage: Path, entry_id: int) -> Path:
    """Where an entry's episodes file lives (named by the integer id alone)."""
    return storage / f"entry-{int(entry_id)}.episodes.jsonl"
