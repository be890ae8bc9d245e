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
APPS_V2 = (*APPS, "gmail", "splitwise", "amazon")  # suite version 2 adds Gmail, Splitwise and Amazon
SUITE_VERSIONS = (1, 2)
FIRST_NAMES = [
    "Bob", "Carla", "Dev", "Erin", "Farid", "Gina", "Hugo", "Iris", "Jonas", "Kemi", "Luis", "Mira",
    "Nate", "Olga", "Pavel", "Quinn", "Rosa", "Sami", "Tara", "Umar", "Vera", "Wes", "Xena", "Yusuf",
    "Abel", "Bianca", "Cyrus", "Dina", "Emil", "Fatima", "Gideon", "Hana", "Igor", "Jada", "Kofi", "Lena",
]  # fmt: skip
LAST_NAMES = ["Stone", "Diaz", "Patel", "Walsh", "Haddad", "Kim", "Okafor", "Berg", "Moreau", "Silva", "Novak", "Ito"]
RELATIONSHIPS = ["friend", "coworker", "roommate", "sibling", "cousin", "neighbor"]
BALANCE = 5000.0  # every Venmo user's balance: enough for any task's payments
NUM_PEOPLE = 64  # about 57 contacts: three pages of search_contacts
NUM_PEOPLE_V2 = 72  # every first name twice (look-alikes); 64 contacts: four pages of search_contacts
EVENTS = ["hike", "board game night", "book launch", "picnic", "karaoke", "housewarming", "beach day", "pottery class"]
PLACES = ["Pizza Palace", "Sushi Bar", "Taco Stand", "Noodle House", "Burger Joint", "Curry Corner", "Dim Sum Hall"]
NOISE_SUBJECTS = [
    "Quick question", "Lunch tomorrow?", "Photos from the weekend", "Re: schedule", "Happy birthday!",
    "Article you might like", "Meeting notes", "Weekend plans", "Carpool", "Recipe", "Podcast rec", "Hello!",
]  # fmt: skip
SPLITWISE_GROUPS = [("Roommates", "rent and utilities"), ("Ski Trip", "cabin and lift passes")]
AMAZON_PRODUCTS = [  # (type, name, look-alike variants): "Oat Milk 1L" and "Oat Milk 2L" are different products
    ("grocery", "Oat Milk", ["1L", "2L"]),
    ("grocery", "Coffee Beans", ["Medium Roast", "Dark Roast"]),
    ("electronics", "AA Batteries", ["4 Pack", "12 Pack"]),
    ("stationery", "Spiral Notebook", ["A5", "A4"]),
    ("kitchen", "Paper Towels", ["6 Rolls", "12 Rolls"]),
    ("party", "Paper Plates", ["50 Count", "100 Count"]),
    ("party", "Balloons", ["Red", "Gold"]),
    ("kitchen", "Dish Soap", ["Lemon", "Lavender"]),
    ("grocery", "Sparkling Water", ["12 Cans", "24 Cans"]),
    ("party", "Party Napkins", ["Blue", "White"]),
    ("grocery", "Granola", ["Honey", "Chocolate"]),
    ("home", "Scented Candles", ["Vanilla", "Cedar"]),
]
AMAZON_SELLERS = ["Northwind Goods", "Blue Harbor Supply", "Maple Street Market"]
SHOPPING_LISTS = 3  # SimpleNote notes "Shopping List N" (tag "shopping"): "Product Name, quantity" lines
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


def plan_world(seed: int, version: int = 1) -> dict[str, Any]:
    """Draw the world's facts from ``seed`` as plain data (no engine needed).

    Version 1 is the world the @v1 suite was released with (kept byte for byte); version 2 has 72
    people and adds Gmail (``emails``: name lists, bills and shopping lists from contacts, look-alike
    decoys, noise), Splitwise (``groups``), Amazon (``amazon``: look-alike products, a cart, a wish list)
    and SimpleNote shopping lists.

    Returns:
        ``people`` (index 0 is the supervisor; each with name, email, phone, contact flag and
        relationships), ``payments`` (sender, receiver, amount, note, ISO date), ``notes``
        (title, content, tags), ``files`` (tilde path, content); version 2 also ``version``,
        ``emails`` (sender, subject, body, kind, ISO date) and ``groups`` (name, description, members).
    """
    if version not in SUITE_VERSIONS:
        raise ValueError(f"unknown suite version {version}; known: {SUITE_VERSIONS}")
    num_people = NUM_PEOPLE if version == 1 else NUM_PEOPLE_V2
    rng = random.Random(seed)
    names = [(first, last) for first in FIRST_NAMES for last in LAST_NAMES]
    rng.shuffle(names)
    chosen: list[tuple[str, str]] = []
    for first, last in names:  # at most two people per first name: look-alikes, never duplicates
        if sum(f == first for f, _ in chosen) < 2 and len(chosen) < num_people:
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
    plan = {"seed": seed, "people": people, "payments": payments, "notes": notes, "files": files}
    if version == 2:
        extra = _plan_v2(rng, people)
        plan["notes"] = notes + extra.pop("shopping_notes")
        plan.update(version=2, **extra)
    return plan


def look_alike(people: list[dict[str, Any]], person: dict[str, Any]) -> dict[str, Any] | None:
    """The other person with ``person``'s first name, if any."""
    return next((p for p in people[1:] if p["first_name"] == person["first_name"] and p is not person), None)


def _plan_v2(rng: random.Random, people: list[dict[str, Any]]) -> dict[str, Any]:
    """Gmail, Splitwise and Amazon facts of the version-2 world.

    Each list or bill email comes from a contact whose look-alike (same first name) is also a contact and
    sends a decoy with the same subject and other names, so only the sender's full name identifies it.
    """
    start = datetime.fromisoformat(WORLD_DATETIME)
    contacts = [p for p in people[1:] if p["contact"]]
    senders = [p for p in contacts if (twin := look_alike(people, p)) is not None and twin["contact"]]
    emails = []

    def when() -> str:
        return (start - timedelta(days=rng.randrange(1, 90), minutes=rng.randrange(0, 1440))).isoformat()

    def add(kind: str, sender: dict[str, Any], subject: str, body: str) -> None:
        emails.append({"kind": kind, "sender": sender["index"], "subject": subject, "body": body, "created_at": when()})

    picked = rng.sample(senders, len(EVENTS[:4]) + len(PLACES[:4]))
    for event, sender in zip(EVENTS[:4], picked[:4], strict=True):
        for who in (sender, look_alike(people, sender)):
            group = sorted(rng.sample(contacts, rng.randrange(4, 8)), key=lambda p: p["index"])
            add("list" if who is sender else "decoy", who, f"Guest list: {event}", _name_lines(group))
    for place, sender in zip(PLACES[:4], picked[4:], strict=True):
        for who in (sender, look_alike(people, sender)):
            group = sorted(rng.sample(contacts, rng.randrange(4, 7)), key=lambda p: p["index"])
            rows = [f"{_full(p)},{rng.randrange(8, 60)}.{rng.choice(['00', '50', '25'])}" for p in group]
            add("bill" if who is sender else "decoy", who, f"{place} bill", "name,amount\n" + "\n".join(rows))
    for _ in range(60):  # noise: the inbox needs pagination
        add("noise", rng.choice(people[1:]), rng.choice(NOISE_SUBJECTS), "See you soon.")
    emails.sort(key=lambda e: e["created_at"])
    groups = [
        {"name": name, "description": text, "members": sorted(p["index"] for p in rng.sample(contacts, 4))}
        for name, text in SPLITWISE_GROUPS
    ]
    products = [
        {
            "name": f"{base} {variant}",
            "product_type": kind,
            "seller": rng.randrange(len(AMAZON_SELLERS)),
            "price": round(rng.randrange(199, 2999) / 100, 2),
            "delivery_days": rng.randrange(1, 8),
        }
        for kind, base, variants in AMAZON_PRODUCTS
        for variant in variants
    ]
    names = [p["name"] for p in products]
    in_cart = rng.sample(names, 2)  # already in the cart and the wish list: they must stay as they are
    cart = [[name, rng.randrange(1, 3)] for name in in_cart]
    wish_list = [[name, 1] for name in rng.sample([n for n in names if n not in in_cart], 2)]
    listable = [n for n in names if n not in in_cart and n not in {w[0] for w in wish_list}]

    def shopping() -> str:
        return "\n".join(f"{name}, {rng.randrange(1, 5)}" for name in rng.sample(listable, rng.randrange(3, 6)))

    shopping_notes = [
        {"title": f"Shopping List {number}", "content": shopping(), "tags": ["shopping"]}
        for number in range(1, SHOPPING_LISTS + 1)
    ]
    for event, sender in zip(EVENTS[4:], rng.sample(senders, 4), strict=True):
        for who in (sender, look_alike(people, sender)):
            add("shopping" if who is sender else "decoy", who, f"Supplies for the {event}", shopping())
    emails.sort(key=lambda e: e["created_at"])
    amazon = {"products": products, "cart": cart, "wish_list": wish_list}
    return {"emails": emails, "groups": groups, "amazon": amazon, "shopping_notes": shopping_notes}


def _full(person: dict[str, Any]) -> str:
    return f"{person['first_name']} {person['last_name']}"


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
    apps = APPS_V2 if plan.get("version", 1) == 2 else APPS
    for app in apps:
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
    if plan.get("version", 1) == 2:
        _build_gmail(models, people, plan["emails"])
        _build_splitwise(models, people, plan["groups"])
        _build_amazon(models, people[0], plan["amazon"])


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


def _build_gmail(models: Any, people: list[dict[str, Any]], emails: list[dict[str, Any]]) -> None:
    """Everyone has a Gmail account; the supervisor's inbox holds ``emails`` (one thread each)."""
    users = [_save(models.gmail.User, **_account(p), password=password("gmail", p["index"])) for p in people]
    for email in emails:
        when = datetime.fromisoformat(email["created_at"])
        sender = users[email["sender"]]
        record = _save(
            models.gmail.Email,
            sender_id=sender.id,
            recipient_ids=[users[0].id],
            subject=email["subject"],
            body=email["body"],
            created_at=when,
        )
        thread = _save(models.gmail.GlobalEmailThread, email_ids=[record.id], created_at=when, updated_at=when)
        for user, read in ((sender, True), (users[0], False)):  # the sender's outbox and the supervisor's inbox
            _save(
                models.gmail.UserEmailThread,
                global_email_thread_id=thread.id,
                user_id=user.id,
                email_ids=[record.id],
                incoming=user is users[0],
                outgoing=user is sender,
                read=read,
                created_at=when,
                updated_at=when,
            )


def _build_splitwise(models: Any, people: list[dict[str, Any]], groups: list[dict[str, Any]]) -> None:
    """Everyone has a Splitwise account; the supervisor already has a few groups (decoys)."""
    users = [
        _save(models.splitwise.User, **_account(p), password=password("splitwise", p["index"]), verified=True)
        for p in people
    ]
    when = datetime.fromisoformat(WORLD_DATETIME) - timedelta(days=120)
    for number, group in enumerate(groups):
        record = _save(
            models.splitwise.Group,
            user_id=users[0].id,
            name=group["name"],
            description=group["description"],
            invitation_code=f"GRP{number:02d}",  # AppWorld's default is random: fixed for same bytes
            created_at=when,
        )
        for member in [0, *group["members"]]:
            _save(models.splitwise.GroupMember, group_id=record.id, user_id=users[member].id, joined_at=when)


def _build_amazon(models: Any, supervisor: dict[str, Any], amazon: dict[str, Any]) -> None:
    """The supervisor's Amazon account, a catalogue of look-alike products, a cart and a wish list."""
    user = _save(models.amazon.User, **_account(supervisor), password=password("amazon", 0), verified=True)
    sellers = [_save(models.amazon.Seller, name=name, rating=4.5) for name in AMAZON_SELLERS]
    ids = {}
    for product in amazon["products"]:
        record = _save(
            models.amazon.Product,
            product_type=product["product_type"],
            name=product["name"],
            description=f"{product['name']}, sold by {AMAZON_SELLERS[product['seller']]}.",
            seller_id=sellers[product["seller"]].id,
            price=product["price"],
            delivery_days=product["delivery_days"],
            inventory_quantity=50,
            weight=1.0,
            length=8.0,
            width=6.0,
            height=4.0,
        )
        ids[product["name"]] = record.id
    for name, quantity in amazon["cart"]:
        _save(models.amazon.CartEntry, user_id=user.id, product_id=ids[name], quantity=quantity)
    for name, quantity in amazon["wish_list"]:
        _save(models.amazon.WishListEntry, user_id=user.id, product_id=ids[name], quantity=quantity)
