"""Offline task templates: instruction, expert solution, a wrong solution and evaluation code.

Each task is written exactly as AppWorld stores its own tasks (``specs.json``,
``dbs/``, ``ground_truth/``); the evaluation code below runs under AppWorld's
own evaluator (``evaluate(test, public_data, private_data, main_user, models,
ground_truth_answer)`` with ``test`` its ``TestTracker``). Pure Python: no
``appworld`` import, so this module loads in either venv.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

LOGIN = """\
passwords = {{p["account_name"]: p["password"] for p in apis.supervisor.show_account_passwords()}}
email = apis.supervisor.show_profile()["email"]
token = apis.{app}.login(username=email, password=passwords["{app}"])["access_token"]
"""

COMMON_EVAL = """\
import json


def _completed(test, models):
    task = models.end.supervisor.Task.all()[0]
    with test("the task is marked complete with status success"):
        test.case(task.status, "==", "success")
    return json.loads(task.answer) if task.answer else None
"""

EVALUATIONS = {
    "answer": """
def evaluate(test, public_data, private_data, main_user, models, ground_truth_answer):
    answer = _completed(test, models)
    with test("the answer is correct"):
        test.answer(answer, ground_truth_answer)
""",
    "payment": """
def evaluate(test, public_data, private_data, main_user, models, ground_truth_answer):
    _completed(test, models)
    me = models.end.venmo.User.find_one(email=main_user.email)
    before = {t.id for t in models.start.venmo.Transaction.find_all(sender_id=me.id)}
    new = [t for t in models.end.venmo.Transaction.find_all(sender_id=me.id) if t.id not in before]
    with test("exactly one payment is sent"):
        test.case(len(new), "==", 1)
    receiver = models.end.venmo.User.find_one(email=private_data.receiver_email)
    with test("the payment goes to the right person with the right amount and note"):
        test.case(new[0].receiver_id, "==", receiver.id)
        test.case(round(new[0].amount, 2), "==", private_data.amount)
        test.case(new[0].description.strip().lower(), "==", private_data.description.lower())
    old_balance = models.start.venmo.User.find_one(email=main_user.email).venmo_balance
    with test("the Venmo balance drops by the amount"):
        test.case(round(old_balance - me.venmo_balance, 2), "==", private_data.amount)
""",
    "playlist": """
def evaluate(test, public_data, private_data, main_user, models, ground_truth_answer):
    _completed(test, models)
    start = {s.song_id for s in models.start.spotify.PlaylistSong.find_all(playlist_id=private_data.playlist_id)}
    end = {s.song_id for s in models.end.spotify.PlaylistSong.find_all(playlist_id=private_data.playlist_id)}
    with test("the playlist holds exactly the expected songs"):
        test.case(sorted(end), "==", sorted(private_data.expected_song_ids))
    with test("no other playlist changed"):
        pid = private_data.playlist_id
        rows = lambda m: m.spotify.PlaylistSong.all()
        others = lambda m: sorted((s.playlist_id, s.song_id) for s in rows(m) if s.playlist_id != pid)
        test.case(others(models.end), "==", others(models.start))
""",
    "new_playlist": """
def evaluate(test, public_data, private_data, main_user, models, ground_truth_answer):
    _completed(test, models)
    me = models.end.spotify.User.find_one(email=main_user.email)
    titles = [p.title for p in models.end.spotify.Playlist.find_all(user_id=me.id)]
    with test("exactly one playlist with the requested title exists"):
        test.case(titles.count(private_data.title), "==", 1)
    with test("the new playlist is empty"):
        playlist = models.end.spotify.Playlist.find_one(user_id=me.id, title=private_data.title)
        test.case(len(models.end.spotify.PlaylistSong.find_all(playlist_id=playlist.id)), "==", 0)
""",
    "notes": """
def evaluate(test, public_data, private_data, main_user, models, ground_truth_answer):
    _completed(test, models)
    end = sorted((n.title, n.content.strip()) for n in models.end.simple_note.Note.all())
    with test("the notes are exactly the expected ones"):
        test.case(end, "==", sorted(tuple(pair) for pair in private_data.expected_notes))
""",
}


@dataclass
class TaskSpec:
    """One generated task: what AppWorld needs plus our expert and a wrong attempt."""

    id: str
    instruction: str
    kind: str
    app: str
    solution: str
    wrong_solution: str
    answer: Any = None
    private_data: dict[str, Any] = field(default_factory=dict)

    @property
    def evaluation_code(self) -> str:
        """The ``evaluation.py`` source for this task."""
        return COMMON_EVAL + EVALUATIONS[self.kind]

    @property
    def requirements(self) -> list[str]:
        """The test requirements the evaluation code checks, in order."""
        body = EVALUATIONS[self.kind]
        found = [line.split('test("', 1)[1].split('")', 1)[0] for line in body.splitlines() if 'test("' in line]
        return ["the task is marked complete with status success", *found]


def _login(app: str) -> str:
    return LOGIN.format(app=app)


def _complete(answer: str = "") -> str:
    return f"apis.supervisor.complete_task({'answer=' + answer if answer else ''})\n"


def venmo_tasks(world: dict[str, Any]) -> list[TaskSpec]:
    """Balance look-ups, payment counts and payments on Venmo."""
    return _venmo_balance() + _venmo_counts(world["people"]) + _venmo_payments(world["people"])


def _venmo_balance() -> list[TaskSpec]:
    return [
        TaskSpec(
            id="venmobalance_1",
            instruction="What is my current Venmo balance? Answer with just the number.",
            kind="answer",
            app="venmo",
            answer=250.0,
            solution=_login("venmo")
            + "balance = apis.venmo.show_venmo_balance(access_token=token)\n"
            + _complete('balance["venmo_balance"]'),
            wrong_solution=_complete("100.0"),
        )
    ]


def _venmo_counts(people: list[dict[str, str]]) -> list[TaskSpec]:
    tasks = []
    counts = {1: 2, 2: 2, 4: 1}
    for number, (friend, count) in enumerate(counts.items(), start=1):
        person = people[friend]
        tasks.append(
            TaskSpec(
                id=f"venmocount_{number}",
                instruction=f"How many Venmo payments have I sent to {person['first_name']} {person['last_name']}?",
                kind="answer",
                app="venmo",
                answer=count,
                solution=_login("venmo")
                + f'friend = "{person["email"]}"\n'
                + "sent = [t for t in apis.venmo.show_transactions(access_token=token, user_email=friend, "
                "page_limit=20)\n        if t['sender']['email'] == email]\n" + _complete("len(sent)"),
                wrong_solution=_login("venmo")
                + "everything = apis.venmo.show_transactions(access_token=token, page_limit=20)\n"
                + _complete("len(everything)"),
            )
        )
    return tasks


def _venmo_payments(people: list[dict[str, str]]) -> list[TaskSpec]:
    tasks = []
    payments = [(1, 15.0, "movie tickets"), (3, 42.5, "groceries"), (5, 7.25, "bagels"), (2, 60.0, "concert")]
    for number, (friend, amount, note) in enumerate(payments, start=1):
        person = people[friend]
        tasks.append(
            TaskSpec(
                id=f"venmopay_{number}",
                instruction=f"Send ${amount:.2f} to {person['first_name']} {person['last_name']} "
                f"({person['email']}) on Venmo with the note '{note}'.",
                kind="payment",
                app="venmo",
                private_data={"receiver_email": person["email"], "amount": amount, "description": note},
                solution=_login("venmo")
                + f'apis.venmo.create_transaction(receiver_email="{person["email"]}", amount={amount}, '
                f'description="{note}", access_token=token)\n' + _complete(),
                wrong_solution=_login("venmo")
                + f'apis.venmo.create_transaction(receiver_email="{person["email"]}", amount={amount + 1}, '
                f'description="{note}", access_token=token)\n' + _complete(),
            )
        )
    return tasks


FIND_PLAYLIST = """\
playlists = apis.spotify.show_playlist_library(access_token=token, page_limit=20)
playlist_id = next(p["playlist_id"] for p in playlists if p["title"] == "{title}")
"""
FIND_SONG = """\
songs = apis.spotify.search_songs(query="{title}", page_limit=20)
song_id = next(s["song_id"] for s in songs if s["title"] == "{title}")
"""


def spotify_tasks(world: dict[str, Any]) -> list[TaskSpec]:
    """Playlist counts, additions, removals and creation on Spotify."""
    return _spotify_counts(world["playlists"]) + _spotify_edits(world) + _spotify_new()


def _spotify_counts(playlists: dict[str, list[int]]) -> list[TaskSpec]:
    tasks = []
    for number, (title, songs) in enumerate(playlists.items(), start=1):
        tasks.append(
            TaskSpec(
                id=f"spotifycount_{number}",
                instruction=f"How many songs are in my Spotify playlist '{title}'?",
                kind="answer",
                app="spotify",
                answer=len(songs),
                solution=_login("spotify")
                + FIND_PLAYLIST.format(title=title)
                + "playlist = apis.spotify.show_playlist(playlist_id=playlist_id, access_token=token)\n"
                + _complete('len(playlist["songs"])'),
                wrong_solution=_login("spotify")  # counts the songs of every playlist
                + "library = apis.spotify.show_playlist_library(access_token=token, page_limit=20)\n"
                + "songs = [apis.spotify.show_playlist(playlist_id=p['playlist_id'], access_token=token)['songs'] "
                "for p in library]\n" + _complete("sum(len(s) for s in songs)"),
            )
        )
    return tasks


def _spotify_edits(world: dict[str, Any]) -> list[TaskSpec]:
    PLAYLISTS, SONGS = world["playlists"], world["songs"]  # noqa: N806 - the world's constants
    tasks = []
    edits = [("Road Trip", 5, True), ("Focus", 0, True), ("Weekend Mix", 6, False), ("Road Trip", 1, False)]
    for number, (playlist, song, add) in enumerate(edits, start=1):
        ids = [world["song_ids"][SONGS[i][0]] for i in PLAYLISTS[playlist]]
        song_id = world["song_ids"][SONGS[song][0]]
        expected = ids + [song_id] if add else [i for i in ids if i != song_id]
        verb, api = ("Add", "add_song_to_playlist") if add else ("Remove", "remove_song_from_playlist")
        where = "to" if add else "from"
        step = FIND_PLAYLIST.format(title=playlist) + FIND_SONG.format(title=SONGS[song][0])
        tasks.append(
            TaskSpec(
                id=f"spotifyedit_{number}",
                instruction=f"{verb} the song '{SONGS[song][0]}' {where} my Spotify playlist '{playlist}'.",
                kind="playlist",
                app="spotify",
                private_data={"playlist_id": world["playlist_ids"][playlist], "expected_song_ids": expected},
                solution=_login("spotify")
                + step
                + f"apis.spotify.{api}(playlist_id=playlist_id, song_id=song_id, access_token=token)\n"
                + _complete(),
                wrong_solution=_login("spotify") + step + _complete(),
            )
        )
    return tasks


def _spotify_new() -> list[TaskSpec]:
    tasks = []
    for number, title in enumerate(["Rainy Day", "Gym Hits"], start=1):
        tasks.append(
            TaskSpec(
                id=f"spotifynew_{number}",
                instruction=f"Create a new private Spotify playlist called '{title}'.",
                kind="new_playlist",
                app="spotify",
                private_data={"title": title},
                solution=_login("spotify")
                + f'apis.spotify.create_playlist(title="{title}", is_public=False, access_token=token)\n'
                + _complete(),
                wrong_solution=_login("spotify")
                + f'apis.spotify.create_playlist(title="{title.lower()}", is_public=False, access_token=token)\n'
                + _complete(),
            )
        )
    return tasks


FIND_NOTE = """\
notes = apis.simple_note.search_notes(access_token=token, query="{title}", page_limit=20)
note_id = next(n["note_id"] for n in notes if n["title"] == "{title}")
"""


def note_tasks(world: dict[str, Any]) -> list[TaskSpec]:
    """Note look-ups, tag counts, creation and deletion on SimpleNote."""
    notes = [(title, content) for title, content, _ in world["note_specs"]]
    return _note_reads(notes) + _note_tags(world["note_specs"]) + _note_new(notes) + _note_deletes(notes)


def _note_reads(notes: list[tuple[str, str]]) -> list[TaskSpec]:
    tasks = []
    for number, index in enumerate([0, 2], start=1):
        title, content = notes[index]
        tasks.append(
            TaskSpec(
                id=f"noteread_{number}",
                instruction=f"What does my SimpleNote note titled '{title}' say? Answer with its full content.",
                kind="answer",
                app="simple_note",
                answer=content,
                solution=_login("simple_note")
                + FIND_NOTE.format(title=title)
                + "note = apis.simple_note.show_note(note_id=note_id, access_token=token)\n"
                + _complete('note["content"]'),
                wrong_solution=_login("simple_note") + _complete(f'"{title}"'),
            )
        )
    return tasks


def _note_tags(note_specs: list[tuple[str, str, list[str]]]) -> list[TaskSpec]:
    tasks = []
    for number, tag in enumerate(["work", "personal"], start=1):
        count = sum(tag in tags for _, _, tags in note_specs)
        tasks.append(
            TaskSpec(
                id=f"notetag_{number}",
                instruction=f"How many of my SimpleNote notes are tagged '{tag}'?",
                kind="answer",
                app="simple_note",
                answer=count,
                solution=_login("simple_note")
                + f'tagged = apis.simple_note.search_notes(access_token=token, tags=["{tag}"], page_limit=20)\n'
                + _complete("len(tagged)"),
                wrong_solution=_login("simple_note")
                + _complete("len(apis.simple_note.search_notes(access_token=token, page_limit=20))"),
            )
        )
    return tasks


def _note_new(notes: list[tuple[str, str]]) -> list[TaskSpec]:
    tasks = []
    for number, (title, content) in enumerate([("Packing List", "passport, charger, sunscreen")], start=1):
        tasks.append(
            TaskSpec(
                id=f"notenew_{number}",
                instruction=f"Create a SimpleNote note titled '{title}' with the content '{content}'.",
                kind="notes",
                app="simple_note",
                private_data={"expected_notes": [*notes, (title, content)]},
                solution=_login("simple_note")
                + f'apis.simple_note.create_note(title="{title}", content="{content}", access_token=token)\n'
                + _complete(),
                wrong_solution=_login("simple_note")
                + f'apis.simple_note.create_note(title="{title}", content="", access_token=token)\n'
                + _complete(),
            )
        )
    return tasks


def _note_deletes(notes: list[tuple[str, str]]) -> list[TaskSpec]:
    tasks = []
    for number, index in enumerate([4, 5], start=1):
        title = notes[index][0]
        tasks.append(
            TaskSpec(
                id=f"notedelete_{number}",
                instruction=f"Delete my SimpleNote note titled '{title}'.",
                kind="notes",
                app="simple_note",
                private_data={"expected_notes": [pair for pair in notes if pair[0] != title]},
                solution=_login("simple_note")
                + FIND_NOTE.format(title=title)
                + "apis.simple_note.delete_note(note_id=note_id, access_token=token)\n"
                + _complete(),
                wrong_solution=_login("simple_note")
                + "apis.simple_note.delete_note(note_id=1, access_token=token)\n"
                + _complete(),
            )
        )
    return tasks


def all_tasks(world: dict[str, Any]) -> list[TaskSpec]:
    """Return every offline task over the world ``world`` (see :func:`.world.build_world`)."""
    return venmo_tasks(world) + spotify_tasks(world) + note_tasks(world)
