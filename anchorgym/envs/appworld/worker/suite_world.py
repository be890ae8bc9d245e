"""The suite world: a seeded multi-app world built with AppWorld's own models.

Runs inside the AppWorld venv (imports nothing from ``appworld`` itself: it
receives a loaded ``ModelCollection``). :func:`plan_world` draws every fact from
one seed (people with look-alike names, phone contacts and relationships, a
Venmo history long enough to need pagination, notes, files) as plain data, so
task templates can compute answers without the engine; :func:`build_world`
writes that plan into AppWorld's databases. Same seed, same world.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

WORLD_DATETIME = "2023-05-18T12:00:00"
SUPERVISOR = {
    "first_name": "Ada",
    "last_name": "Lovelace",
    "email": "ada.lovelace@example.com",
    "phone_number": "5550001111",
}
APPS = ("phone", "venmo", "simple_note", "file_system")
FIRST_NAMES = [
    "Bob", "Carla", "Dev", "Erin", "Farid", "Gina", "Hugo", "Iris", "Jonas", "Kemi", "Luis", "Mira",
    "Nate", "Olga", "Pavel", "Quinn", "Rosa", "Sami", "Tara", "Umar", "Vera", "Wes", "Xena", "Yusuf",
    "Abel", "Bianca", "Cyrus", "Dina", "Emil", "Fatima", "Gideon", "Hana", "Igor", "Jada", "Kofi", "Lena",
]  # fmt: skip
LAST_NAMES = ["Stone", "Diaz", "Patel", "Walsh", "Haddad", "Kim", "Okafor", "Berg", "Moreau", "Silva", "Novak", "Ito"]
RELATIONSHIPS = ["friend", "coworker", "roommate", "sibling", "cousin", "neighbor"]
BALANCE = 5000.0  # every Venmo user's balance: enough for any task's payments
NUM_PEOPLE = 64  # about 57 contacts: three pages of search_contacts
PAYMENT_NOTES = [
    "pizza night", "concert tickets", "coffee", "rent share", "cab ride", "lunch", "groceries", "book club",
    "movie night", "gas money", "birthday gift", "brunch", "utilities", "board games", "parking", "dinner",
]  # fmt: skip
NOTE_TOPICS = [
    ("Grocery List", "eggs, spinach, oat milk, coffee beans", ["home"]),
    ("Quarterly Goals", "ship the billing revamp; hire two engineers", ["work"]),
    ("Book Club", "next book: The Left Hand of Darkness", ["personal"]),
    ("Standup Notes", "blocked on API review; demo on Friday", ["work"]),
    ("Team Offsite", "venue shortlist: lakehouse, city loft", ["work"]),
    ("Recipes", "shakshuka, dal, lemon pasta", ["home"]),
    ("Workout Plan", "mon: run; wed: lift; fri: swim", ["personal"]),
    ("Reading List", "Piranesi; The Dispossessed; Kindred", ["personal"]),
    ("Car Maintenance", "oil change due in June", ["home"]),
    ("Interview Questions", "system design; debugging exercise", ["work"]),
    ("Garden", "tomatoes, basil, peppers", ["home"]),
    ("Podcast Ideas", "urban birds; history of maps", ["personal"]),
    ("Sprint Retro", "fewer meetings; better docs", ["work"]),
    ("Travel Wishlist", "Lisbon, Kyoto, Oaxaca", ["personal"]),
    ("Budget", "rent 1400; food 450; transport 120", ["home"]),
    ("Meeting Agenda", "roadmap; hiring; on-call rotation", ["work"]),
    ("Gift Ideas", "hiking socks; pour-over kettle", ["personal"]),
    ("Passwords Hint", "ask the password manager", ["home"]),
    ("Conference Talks", "vector search at scale; typed pipelines", ["work"]),
    ("Weekend Plans", "farmers market; museum; hike", ["personal"]),
    ("House Chores", "laundry; dishes; vacuum", ["home"]),
    ("Project Ideas", "plant watering bot; recipe search", ["personal"]),
]
LIST_NOTE_COUNT = 4  # notes that list people (sources for tasks), on top of the topics above
LIST_FILE_COUNT = 4  # files that list people (~/documents/lists/*.txt)
CSV_FILE_COUNT = 4  # files with name,amount rows (~/documents/bills/*.csv)
DISTRACTOR_FILES = [
    ("~/documents/resume.txt", "Ada Lovelace - analytical engines"),
    ("~/documents/lists/old_guests.bak.txt", "nobody"),
    ("~/downloads/setup.tmp", "temp"),
    ("~/downloads/cache_01.tmp", "temp"),
    ("~/downloads/cache_02.tmp", "temp"),
    ("~/downloads/report.pdf", "pdf bytes"),
    ("~/downloads/photo.jpg", "jpg bytes"),
    ("~/photos/beach.jpg", "jpg bytes"),
    ("~/photos/hike.jpg", "jpg bytes"),
    ("~/photos/2022/party.jpg", "jpg bytes"),
    ("~/photos/2022/notes.txt", "photo notes"),
    ("~/music/playlist.m3u", "tracks"),
]


def password(app: str, person: int) -> str:
    """Return the deterministic password of ``person`` (0 = supervisor) on ``app``."""
    return f"{app}-pw-{person:02d}-{random.Random(f'suite{app}{person}').randrange(10**6):06d}"


def plan_world(seed: int) -> dict[str, Any]:
    """Draw the world's facts from ``seed`` as plain data (no engine needed).

    Returns:
        ``people`` (index 0 is the supervisor; each with name, email, phone, contact flag and
        relationships), ``payments`` (sender, receiver, amount, note, ISO date), ``notes``
        (title, content, tags), ``files`` (tilde path, content).
    """
    rng = random.Random(seed)
    names = [(first, last) for first in FIRST_NAMES for last in LAST_NAMES]
    rng.shuffle(names)
    chosen: list[tuple[str, str]] = []
    for first, last in names:  # at most two people per first name: look-alikes, never duplicates
        if sum(f == first for f, _ in chosen) < 2 and len(chosen) < NUM_PEOPLE:
            chosen.append((first, last))
    chosen.sort()
    people = [{**SUPERVISOR, "index": 0, "contact": False, "relationships": []}]
    for index, (first, last) in enumerate(chosen, start=1):
        in_contacts = index % 9 != 0  # a few people are on Venmo but not in the contact book
        relationships = sorted(rng.sample(RELATIONSHIPS, rng.choice([1, 1, 2]))) if in_contacts else []
        people.append(
            {
                "index": index,
                "first_name": first,
                "last_name": last,
                "email": f"{first.lower()}.{last.lower()}@example.com",
                "phone_number": f"555{index:03d}{rng.randrange(10**4):04d}",
                "contact": in_contacts,
                "relationships": relationships,
                "birthday": f"19{rng.randrange(70, 99)}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}",
            }
        )
    start = datetime.fromisoformat(WORLD_DATETIME)
    payments = []
    for _ in range(200):
        other = rng.randrange(1, len(people))
        sent = rng.random() < 0.5
        when = start - timedelta(days=rng.randrange(1, 200), hours=rng.randrange(0, 23))
        payments.append(
            {
                "sender": 0 if sent else other,
                "receiver": other if sent else 0,
                "amount": round(rng.randrange(300, 9000) / 100, 2),
                "note": rng.choice(PAYMENT_NOTES),
                "created_at": when.isoformat(),
            }
        )
    payments.sort(key=lambda p: p["created_at"])
    notes = [{"title": t, "content": c, "tags": tags} for t, c, tags in NOTE_TOPICS]
    contacts = [p for p in people[1:] if p["contact"]]
    for number in range(1, LIST_NOTE_COUNT + 1):
        group = sorted(rng.sample(contacts, rng.randrange(4, 8)), key=lambda p: p["index"])
        title = f"Invite List {number}"
        notes.append({"title": title, "content": _name_lines(group), "tags": ["lists"]})
    files = [{"path": path, "content": content} for path, content in DISTRACTOR_FILES]
    for number in range(1, LIST_FILE_COUNT + 1):
        group = sorted(rng.sample(contacts, rng.randrange(4, 8)), key=lambda p: p["index"])
        files.append({"path": f"~/documents/lists/team_{number}.txt", "content": _name_lines(group)})
    for number in range(1, CSV_FILE_COUNT + 1):
        group = sorted(rng.sample(contacts, rng.randrange(4, 7)), key=lambda p: p["index"])
        rows = [
            f"{p['first_name']} {p['last_name']},{rng.randrange(5, 80)}.{rng.choice(['00', '50', '25'])}" for p in group
        ]
        files.append({"path": f"~/documents/bills/split_{number}.csv", "content": "name,amount\n" + "\n".join(rows)})
    return {"seed": seed, "people": people, "payments": payments, "notes": notes, "files": files}


def _name_lines(group: list[dict[str, Any]]) -> str:
    return "\n".join(f"{p['first_name']} {p['last_name']}" for p in group)


def _save(model: Any, **fields: Any) -> Any:
    record = model.create(**fields)
    record.save()
    return record


def build_world(models: Any, plan: dict[str, Any]) -> None:
    """Write ``plan`` (see :func:`plan_world`) into ``models``, a loaded ModelCollection."""
    people = plan["people"]
    sup = SUPERVISOR
    main = _save(models.admin.MainUser, **sup, birthday="1990-12-10", sex="female")
    _save(models.supervisor.Supervisor, **sup, birthday="1990-12-10", sex="female")
    for app in APPS:
        _save(models.admin.AccountPassword, main_user_id=main.id, account_name=app, password=password(app, 0))
        _save(models.supervisor.AccountPassword, supervisor_id=1, account_name=app, password=password(app, 0))
    _build_phone(models, people)
    _build_venmo(models, people, plan["payments"])
    note_user = _save(
        models.simple_note.User, **_account(people[0]), password=password("simple_note", 0), verified=True
    )
    for note in plan["notes"]:
        _save(models.simple_note.Note, user_id=note_user.id, **note)
    fs_user = _save(models.file_system.User, **_account(people[0]), password=password("file_system", 0), verified=True)
    _build_files(models, fs_user, plan["files"])


def _account(person: dict[str, Any]) -> dict[str, str]:
    return {k: person[k] for k in ("first_name", "last_name", "email")}


def _build_phone(models: Any, people: list[dict[str, Any]]) -> None:
    users = []
    for person in people:
        fields = {k: person[k] for k in ("first_name", "last_name", "phone_number")}
        users.append(_save(models.phone.User, **fields, password=password("phone", person["index"])))
    start = datetime.fromisoformat(WORLD_DATETIME)
    for person in people[1:]:
        if person["contact"]:
            _save(
                models.phone.Contact,
                user_id=users[0].id,
                **{k: person[k] for k in ("first_name", "last_name", "email", "phone_number", "birthday")},
                relationships=person["relationships"],
                created_at=start - timedelta(days=400 - person["index"]),
            )


def _build_venmo(models: Any, people: list[dict[str, Any]], payments: list[dict[str, Any]]) -> None:
    users = [
        _save(
            models.venmo.User,
            **_account(p),
            password=password("venmo", p["index"]),
            venmo_balance=BALANCE,
            verified=True,
        )
        for p in people
    ]
    for payment in payments:
        when = datetime.fromisoformat(payment["created_at"])
        _save(
            models.venmo.Transaction,
            sender_id=users[payment["sender"]].id,
            receiver_id=users[payment["receiver"]].id,
            amount=payment["amount"],
            description=payment["note"],
            private=False,
            created_at=when,
            updated_at=when,
        )


def _build_files(models: Any, user: Any, files: list[dict[str, str]]) -> None:
    home = f"/home/{user.first_name.lower()}/"
    directories = {"/", "/home/", home}
    for file in files:
        parts = file["path"].replace("~/", home).split("/")[1:-1]
        for depth in range(1, len(parts) + 1):
            directories.add("/" + "/".join(parts[:depth]) + "/")
    for path in sorted(directories):
        _save(models.file_system.Directory, path=path, user_id=user.id)
    for file in files:
        _save(models.file_system.File, path=file["path"].replace("~/", home), user_id=user.id, content=file["content"])
