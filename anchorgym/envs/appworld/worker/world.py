"""The offline world: people and app records built with AppWorld's own models.

Runs inside the AppWorld venv (imports ``appworld`` lazily). Every generated
task starts from this one world, saved as AppWorld's ``base_dbs``; a task adds
only its own supervisor ``Task`` row on top (AppWorld's "changes" format).
"""

from __future__ import annotations

import random
from typing import Any

WORLD_DATETIME = "2023-05-18T12:00:00"
RELEASE_DATE = "2021-06-01T00:00:00"
SUPERVISOR = {
    "first_name": "Ada",
    "last_name": "Lovelace",
    "email": "ada.lovelace@example.com",
    "phone_number": "5550001111",
}
FRIENDS = [
    ("Bob", "Stone"),
    ("Carla", "Diaz"),
    ("Dev", "Patel"),
    ("Erin", "Walsh"),
    ("Farid", "Haddad"),
]
ARTISTS = ["The Quiet Hours", "Neon Harbor", "Mara Lune"]
SONGS = [
    ("Paper Lanterns", 0, "pop"),
    ("Low Tide", 1, "indie"),
    ("Glass City", 1, "indie"),
    ("Northern Line", 0, "pop"),
    ("Slow Burn", 2, "jazz"),
    ("Copper Sky", 2, "jazz"),
    ("Static Bloom", 1, "rock"),
    ("Harbor Lights", 1, "rock"),
    ("Velvet Road", 0, "pop"),
    ("Morning Proof", 2, "jazz"),
]
PLAYLISTS = {
    "Road Trip": [0, 1, 2, 3],
    "Focus": [4, 5, 9],
    "Weekend Mix": [6, 7, 8, 0, 4],
}
NOTES = [
    ("Grocery List", "eggs, spinach, oat milk, coffee beans", ["home"]),
    ("Quarterly Goals", "ship the billing revamp; hire two engineers", ["work"]),
    ("Book Club", "next book: The Left Hand of Darkness", ["personal"]),
    ("Standup Notes", "blocked on API review; demo on Friday", ["work"]),
    ("Gift Ideas", "Bob: hiking socks; Carla: pour-over kettle", ["personal"]),
    ("Team Offsite", "venue shortlist: lakehouse, city loft", ["work"]),
]
VENMO_PAYMENTS = [  # (sender index, receiver index, amount, description); index 0 is the supervisor
    (0, 1, 12.5, "pizza night"),
    (0, 1, 30.0, "concert tickets"),
    (0, 2, 8.75, "coffee"),
    (3, 0, 45.0, "rent share"),
    (0, 4, 22.0, "cab ride"),
    (0, 2, 16.0, "lunch"),
    (5, 0, 10.0, "book"),
]


def password(app: str, person: int) -> str:
    """Return the deterministic password of ``person`` (0 = supervisor) on ``app``."""
    return f"{app}-pw-{person:02d}-{random.Random(f'{app}{person}').randrange(10**6):06d}"


def people() -> list[dict[str, str]]:
    """Return the supervisor followed by the friends, each with an email address."""
    friends = [
        {"first_name": first, "last_name": last, "email": f"{first.lower()}.{last.lower()}@example.com"}
        for first, last in FRIENDS
    ]
    return [dict(SUPERVISOR), *friends]


def build_world(models: Any) -> dict[str, Any]:
    """Create every record of the offline world in ``models`` (a loaded ModelCollection).

    Returns:
        Facts about the world that task templates use (ids, titles, balances).
    """
    persons = people()
    _build_admin(models, persons)
    venmo_ids = _build_venmo(models, persons)
    spotify = _build_spotify(models, persons)
    notes = _build_simple_note(models, persons)
    return {
        "people": persons,
        "venmo_user_ids": venmo_ids,
        **spotify,
        "notes": notes,
        "playlists": PLAYLISTS,
        "songs": SONGS,
        "note_specs": NOTES,
    }


def _save(model: Any, **fields: Any) -> Any:
    record = model.create(**fields)
    record.save()
    return record


def _build_admin(models: Any, persons: list[dict[str, str]]) -> None:
    sup = _save(models.admin.MainUser, **SUPERVISOR, birthday="1990-12-10", sex="female")
    _save(models.supervisor.Supervisor, **SUPERVISOR, birthday="1990-12-10", sex="female")
    for app in ("venmo", "spotify", "simple_note"):
        _save(models.admin.AccountPassword, main_user_id=sup.id, account_name=app, password=password(app, 0))
        _save(models.supervisor.AccountPassword, supervisor_id=1, account_name=app, password=password(app, 0))
    for index, person in enumerate(persons[1:], start=1):
        phone = f"55500{index:05d}"
        _save(models.admin.MainUser, **person, phone_number=phone, birthday="1992-03-04", sex="male")


def _build_venmo(models: Any, persons: list[dict[str, str]]) -> list[int]:
    balances = [250.0, 80.0, 42.5, 310.0, 15.25, 99.0]
    users = [
        _save(models.venmo.User, **p, password=password("venmo", i), venmo_balance=balances[i], verified=True)
        for i, p in enumerate(persons)
    ]
    for sender, receiver, amount, description in VENMO_PAYMENTS:
        _save(
            models.venmo.Transaction,
            sender_id=users[sender].id,
            receiver_id=users[receiver].id,
            amount=amount,
            description=description,
            private=False,
        )
    return [user.id for user in users]


def _build_spotify(models: Any, persons: list[dict[str, str]]) -> dict[str, Any]:
    users = [
        _save(models.spotify.User, **p, password=password("spotify", i), verified=True) for i, p in enumerate(persons)
    ]
    artists = [_save(models.spotify.Artist, name=name, genre="pop") for name in ARTISTS]
    songs = [
        _save(
            models.spotify.Song,
            title=title,
            artist_ids=[artists[a].id],
            duration=180 + 7 * i,
            genre=genre,
            release_date=RELEASE_DATE,
        )
        for i, (title, a, genre) in enumerate(SONGS)
    ]
    playlists = {}
    for title, song_indexes in PLAYLISTS.items():
        playlist = _save(models.spotify.Playlist, title=title, user_id=users[0].id, is_public=False)
        for index in song_indexes:
            _save(models.spotify.PlaylistSong, playlist_id=playlist.id, song_id=songs[index].id)
        playlists[title] = playlist.id
    return {"song_ids": {s.title: s.id for s in songs}, "playlist_ids": playlists}


def _build_simple_note(models: Any, persons: list[dict[str, str]]) -> dict[str, int]:
    user = _save(models.simple_note.User, **persons[0], password=password("simple_note", 0), verified=True)
    return {
        title: _save(models.simple_note.Note, user_id=user.id, title=title, content=content, tags=tags).id
        for title, content, tags in NOTES
    }
