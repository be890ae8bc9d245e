"""Suite version 2's scenario families: version 1's plus Gmail, Splitwise and Amazon, and a deeper level 3.

Lists, bills and shopping lists emailed by contacts whose look-alikes sent decoys, emails per person,
Splitwise groups and expenses, an Amazon cart or wish list filled from a note or an email among look-alike
products; the short level-3 families of version 1 read every team file, bills file or tagged note instead of
one, so that every level-3 expert needs at least 15 API calls. Sources, sinks and the composition are
:mod:`suite_tasks`'; this module only adds version 2's. No ``appworld`` import: it loads in either venv.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from typing import Any

from suite_tasks import (
    CONTACT_LOOKUP,
    FAMILIES,
    MESSAGES,
    TEST_FAMILIES,
    Sink,
    Source,
    _by_full_names,
    _compose,
    _full,
    snk_file,
    snk_note,
    snk_pay,
    snk_text,
    src_bills,
    src_relationship,
)

CONTACTS = """\
contacts = all_pages(apis.phone.search_contacts, access_token=phone_token)
by_name = {f"{c['first_name']} {c['last_name']}": c for c in contacts}
"""


def _email_source(plan: dict[str, Any], rng: random.Random, kind: str) -> tuple[dict[str, Any], str]:
    """Pick a list or bill email; return it and the code that finds its body (sender's full name + subject)."""
    email = rng.choice([e for e in plan["emails"] if e["kind"] == kind])
    sender = _full(plan["people"][email["sender"]])
    code = CONTACTS + (
        "threads = all_pages(apis.gmail.show_inbox_threads, access_token=gmail_token, "
        f'from_email=by_name["{sender}"]["email"])\n'
        f'thread_id = next(t["email_thread_id"] for t in threads if t["subject"] == "{email["subject"]}")\n'
        'body = apis.gmail.show_thread(email_thread_id=thread_id, access_token=gmail_token)["emails"][0]["body"]\n'
    )
    return email, code


def src_email_list(plan: dict[str, Any], rng: random.Random) -> Source:
    """The people listed in an email from a contact (whose look-alike sent a decoy with the same subject)."""
    email, code = _email_source(plan, rng, "list")
    code += "names = [n.strip() for n in body.splitlines() if n.strip()]\npeople = [by_name[name] for name in names]\n"
    sender = _full(plan["people"][email["sender"]])
    phrase = (
        f"the people listed in the email '{email['subject']}' that {sender} sent me on Gmail "
        "(one full name per line; find them in my phone contacts)"
    )
    return Source(phrase, ["gmail", "phone"], code, _by_full_names(plan, email["body"]))


def src_email_bills(plan: dict[str, Any], rng: random.Random) -> Source:
    """The rows (name, amount) of a bill emailed by a contact (a look-alike sent a decoy bill)."""
    email, code = _email_source(plan, rng, "bill")
    rows = [line.split(",") for line in email["body"].splitlines()[1:]]
    people = _by_full_names(plan, "\n".join(name for name, _ in rows))
    amounts = {p["index"]: float(amount) for p, (_, amount) in zip(people, rows, strict=True)}
    code += (
        "rows = [line.split(',') for line in body.splitlines()[1:] if line.strip()]\n"
        "amounts = {name.strip(): float(amount) for name, amount in rows}\n"
        "people = [by_name[name.strip()] for name, _ in rows]\n"
    )
    sender = _full(plan["people"][email["sender"]])
    phrase = (
        f"the bill '{email['subject']}' that {sender} emailed me on Gmail "
        "(name,amount rows; find them in my phone contacts)"
    )
    return Source(phrase, ["gmail", "phone"], code, people, amounts)


def _names_listed(texts: Iterable[str]) -> list[str]:
    """The names listed one per line in ``texts``, each once, in order (what the expert's loop collects)."""
    names: list[str] = []
    for text in texts:
        names += [n for n in (line.strip() for line in text.splitlines()) if n and n not in names]
    return names


def src_all_files(plan: dict[str, Any], rng: random.Random) -> Source:
    """Everyone listed in any team file (a directory listing, a loop of reads, then the contact book)."""
    files = [f for f in plan["files"] if f["path"].startswith("~/documents/lists/team_")]
    names = _names_listed(file["content"] for file in sorted(files, key=lambda f: f["path"]))
    code = (
        'paths = apis.file_system.show_directory(directory_path="~/documents/lists/", entry_type="files", '
        "access_token=fs_token)\n"
        "names = []\n"
        'for path in [p for p in paths if p.rsplit("/", 1)[1].startswith("team_") and p.endswith(".txt")]:\n'
        '    text = apis.file_system.show_file(file_path=path, access_token=fs_token)["content"]\n'
        "    names += [n.strip() for n in text.splitlines() if n.strip() and n.strip() not in names]\n" + CONTACT_LOOKUP
    )
    phrase = (
        "everyone listed in any of my team files ~/documents/lists/team_*.txt (one full name per line; "
        "find them in my phone contacts)"
    )
    return Source(phrase, ["file_system", "phone"], code, _by_full_names(plan, "\n".join(names)))


def src_all_bills(plan: dict[str, Any], rng: random.Random) -> Source:
    """Everyone in any bills CSV, with their amounts summed over the files."""
    files = sorted((f for f in plan["files"] if f["path"].startswith("~/documents/bills/")), key=lambda f: f["path"])
    totals: dict[str, float] = {}
    for file in files:
        for line in file["content"].splitlines()[1:]:
            name, amount = line.split(",")
            totals[name] = totals.get(name, 0.0) + float(amount)
    people = _by_full_names(plan, "\n".join(totals))
    amounts = {p["index"]: totals[_full(p)] for p in people}
    code = (
        'paths = apis.file_system.show_directory(directory_path="~/documents/bills/", entry_type="files", '
        "access_token=fs_token)\n"
        "amounts = {}\n"
        'for path in [p for p in paths if p.endswith(".csv")]:\n'
        '    text = apis.file_system.show_file(file_path=path, access_token=fs_token)["content"]\n'
        "    for line in text.splitlines()[1:]:\n"
        "        if line.strip():\n"
        '            name, amount = line.split(",")\n'
        "            amounts[name.strip()] = amounts.get(name.strip(), 0.0) + float(amount)\n"
        "names = list(amounts)\n" + CONTACT_LOOKUP
    )
    phrase = (
        "everyone in any of my bills files ~/documents/bills/*.csv (name,amount rows; a person's amount is the sum "
        "over the files; find them in my phone contacts)"
    )
    return Source(phrase, ["file_system", "phone"], code, people, amounts)


def src_all_notes(plan: dict[str, Any], rng: random.Random) -> Source:
    """Everyone listed in any SimpleNote note tagged 'lists' (a paginated search, then a loop of reads)."""
    notes = [n for n in plan["notes"] if "lists" in n["tags"]]
    names = _names_listed(note["content"] for note in notes)
    code = (
        'found = all_pages(apis.simple_note.search_notes, access_token=note_token, tags=["lists"])\n'
        "names = []\n"
        "for note in found:\n"
        '    content = apis.simple_note.show_note(note_id=note["note_id"], access_token=note_token)["content"]\n'
        "    names += [n.strip() for n in content.splitlines() if n.strip() and n.strip() not in names]\n"
        + CONTACT_LOOKUP
    )
    phrase = "everyone listed in any of my SimpleNote notes tagged 'lists' (find them in my phone contacts)"
    return Source(phrase, ["simple_note", "phone"], code, _by_full_names(plan, "\n".join(names)))


def src_big_relationship(plan: dict[str, Any], rng: random.Random) -> Source:
    """My contacts with a relationship shared by at least 7 of them."""
    return src_relationship(plan, rng, at_least=7)


SUBJECTS = ["Quick update", "Save the date", "Thank you!", "Reminder", "Plans for Saturday"]
EXPENSES = ["dinner", "team lunch", "groceries", "takeout", "cabin rental", "concert tickets"]
GROUP_NAMES = ["Book Club", "Hiking Crew", "Game Night", "Supper Club", "Trip Fund", "Study Group"]


def _amount_of(person: str = "person") -> str:
    return f"amounts[f\"{{{person}['first_name']}} {{{person}['last_name']}}\"]"


def snk_email(source: Source, plan: dict[str, Any], rng: random.Random) -> Sink:
    """Email each person separately (with their amount when the source is a bill)."""
    if source.amounts:
        what = rng.choice(EXPENSES)
        subject = f"Your share: {what}"
        emails = [
            [[p["email"]], subject, f"Hi {p['first_name']}, you owe ${source.amounts[p['index']]:.2f} for {what}."]
            for p in source.people
        ]
        lookup = f"    amount = {_amount_of()}\n"
        body = f"f\"Hi {{person['first_name']}}, you owe ${{amount:.2f}} for {what}.\""
        phrase = (
            f"Email each of them separately on Gmail with the subject '{subject}' and the body "
            f"'Hi <their first name>, you owe $<their amount, two decimals> for {what}.'"
        )
    else:
        subject, message = rng.choice(SUBJECTS), rng.choice(MESSAGES)
        emails = [[[p["email"]], subject, message] for p in source.people]
        lookup, body = "", repr(message)
        phrase = f"Email each of them separately on Gmail with the subject '{subject}' and the body '{message}'."
    code = (
        "for person in people:\n"
        + lookup
        + f'    apis.gmail.send_email(email_addresses=[person["email"]], subject="{subject}", body={body}, '
        "access_token=gmail_token)\n"
    )
    return Sink(phrase, ["gmail"], code, {"emails": emails})


def snk_split_each(source: Source, plan: dict[str, Any], rng: random.Random) -> Sink:
    """Record one Splitwise expense per person (no group): paid by me, owed entirely by them."""
    me = plan["people"][0]["email"]
    what = rng.choice(EXPENSES)
    amount = _amount_of()
    expenses = [
        [what, source.amounts[p["index"]], me, [[p["email"], source.amounts[p["index"]]]], None] for p in source.people
    ]
    code = (
        "for person in people:\n"
        f'    apis.splitwise.record_expense(description="{what}", paid_amount={amount}, payer_email=profile["email"], '
        'debtor_emails=[person["email"]], access_token=splitwise_token)\n'
    )
    phrase = (
        f"On Splitwise, record one expense per person (in no group), described '{what}', paid by me, of the amount "
        "next to their name, owed entirely by them."
    )
    return Sink(phrase, ["splitwise"], code, {"expenses": expenses})


def snk_group(source: Source, plan: dict[str, Any], rng: random.Random) -> Sink:
    """Create a Splitwise group with exactly these people (and me)."""
    name = f"{rng.choice(GROUP_NAMES)} {rng.randrange(10, 99)}"
    members = [plan["people"][0]["email"], *(p["email"] for p in source.people)]
    code = (
        f'apis.splitwise.create_group(name="{name}", member_emails=[p["email"] for p in people], '
        "access_token=splitwise_token)\n"
    )
    phrase = f"Create a Splitwise group named '{name}' whose members are exactly them (and me)."
    return Sink(phrase, ["splitwise"], code, {"group": True, "group_name": name, "group_members": members})


def _split_equal(source: Source, plan: dict[str, Any], rng: random.Random) -> tuple[Sink, str, float]:
    """One Splitwise expense (no group) paid by me, split equally between me and them; its description, share."""
    me = plan["people"][0]["email"]
    what = rng.choice(EXPENSES)
    share = float(rng.randrange(8, 30))
    total = share * (len(source.people) + 1)
    shares = sorted([[e, share] for e in [me, *(p["email"] for p in source.people)]])
    code = (
        f'apis.splitwise.record_expense(description="{what}", paid_amount={total}, payer_email=profile["email"], '
        'debtor_emails=[profile["email"]] + [p["email"] for p in people], access_token=splitwise_token)\n'
    )
    phrase = (
        f"Record one Splitwise expense (in no group) described '{what}' of ${total:.2f}, paid by me and split equally "
        "between me and them."
    )
    return Sink(phrase, ["splitwise"], code, {"expenses": [[what, total, me, shares, None]]}), what, share


def snk_split_equal(source: Source, plan: dict[str, Any], rng: random.Random) -> Sink:
    """One Splitwise expense (no group) paid by me, split equally between me and them."""
    return _split_equal(source, plan, rng)[0]


def snk_split_equal_email(source: Source, plan: dict[str, Any], rng: random.Random) -> Sink:
    """One Splitwise expense split equally between me and them, then an email to each with their share."""
    split, what, share = _split_equal(source, plan, rng)
    subject = f"Splitwise: {what}"
    body = "Hi {}, your share of " + what + " is ${:.2f}."
    emails = [[[p["email"]], subject, body.format(p["first_name"], share)] for p in source.people]
    code = split.code + (
        f"share = {split.checks['expenses'][0][1]} / (len(people) + 1)\n"
        "for person in people:\n"
        f'    apis.gmail.send_email(email_addresses=[person["email"]], subject="{subject}", '
        f"body=f\"Hi {{person['first_name']}}, your share of {what} is ${{share:.2f}}.\", access_token=gmail_token)\n"
    )
    phrase = split.phrase + (
        f" Then email each of them separately on Gmail with the subject '{subject}' and the body "
        f"'Hi <their first name>, your share of {what} is $<the share, two decimals>.'"
    )
    return Sink(phrase, ["splitwise", "gmail"], code, {**split.checks, "emails": emails})


SHOP_LOOP = """\
for name, quantity in [line.rsplit(",", 1) for line in text.splitlines() if line.strip()]:
    found = all_pages(apis.amazon.search_products, query=name.strip())
    product_id = next(p["product_id"] for p in found if p["name"] == name.strip())
    apis.amazon.{api}(product_id=product_id, quantity=int(quantity), access_token=amazon_token)
"""


def _shop(plan: dict[str, Any], text: str, to: str) -> tuple[str, dict[str, Any], str]:
    """Add every 'Product Name, quantity' line of ``text`` to the cart or the wish list: phrase, checks, code."""
    start = {name: quantity for name, quantity in plan["amazon"][to]}
    for line in text.splitlines():
        name, quantity = line.rsplit(",", 1)
        start[name.strip()] = start.get(name.strip(), 0) + int(quantity)
    words = "cart" if to == "cart" else "wish list"
    api = "add_product_to_cart" if to == "cart" else "add_product_to_wish_list"
    phrase = (
        f"Add each product it lists to my Amazon {words} in the quantity given (the product's exact name matters: "
        f"look-alike products exist); leave the rest of the {words} as it is."
    )
    return phrase, {to: sorted([n, q] for n, q in start.items())}, SHOP_LOOP.replace("{api}", api)


def _fam_note_shop(to: str) -> Callable[[dict[str, Any], random.Random], dict[str, Any]]:
    def build(plan: dict[str, Any], rng: random.Random) -> dict[str, Any]:
        note = rng.choice([n for n in plan["notes"] if n["title"].startswith("Shopping List")])
        phrase, checks, loop = _shop(plan, note["content"], to)
        code = (
            f'found = apis.simple_note.search_notes(access_token=note_token, query="{note["title"]}", page_limit=20)\n'
            f'note_id = next(n["note_id"] for n in found if n["title"] == "{note["title"]}")\n'
            'text = apis.simple_note.show_note(note_id=note_id, access_token=note_token)["content"]\n' + loop
        )
        instruction = (
            f"My SimpleNote note '{note['title']}' lists products, one 'Product Name, quantity' per line. {phrase}"
        )
        return {"instruction": instruction, "apps": ["simple_note", "amazon"], "code": code, "answer": None,
                "checks": checks}  # fmt: skip

    return build


def _fam_email_shop(to: str) -> Callable[[dict[str, Any], random.Random], dict[str, Any]]:
    def build(plan: dict[str, Any], rng: random.Random) -> dict[str, Any]:
        email, code = _email_source(plan, rng, "shopping")
        phrase, checks, loop = _shop(plan, email["body"], to)
        sender = _full(plan["people"][email["sender"]])
        instruction = (
            f"{sender} emailed me '{email['subject']}' on Gmail, one 'Product Name, quantity' per line (find "
            f"{sender}'s email address in my phone contacts). {phrase}"
        )
        code += "text = body\n" + loop
        return {"instruction": instruction, "apps": ["phone", "gmail", "amazon"], "code": code, "answer": None,
                "checks": checks}  # fmt: skip

    return build


def fam_inbox_count(plan: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """L1 Gmail: how many inbox threads come from an address (paginated, filtered)."""
    counts: dict[int, int] = {}
    for email in plan["emails"]:
        counts[email["sender"]] = counts.get(email["sender"], 0) + 1
    person = plan["people"][rng.choice(sorted(i for i, n in counts.items() if n >= 2))]
    code = (
        "answer = len(all_pages(apis.gmail.show_inbox_threads, access_token=gmail_token, "
        f'from_email="{person["email"]}"))\n'
    )
    instruction = f"How many email threads in my Gmail inbox are from {person['email']}? Answer with the number."
    answer = counts[person["index"]]
    return {"instruction": instruction, "apps": ["gmail"], "code": code, "answer": answer, "checks": {}}


FAMILIES_V2: dict[str, Callable[[dict[str, Any], random.Random], dict[str, Any]]] = {
    **FAMILIES,
    # level 3, deepened: every list / bill / tagged note, not one (a listing, then a loop of reads)
    "billsnote": _compose(src_all_bills, snk_note),
    "filenote": _compose(src_all_files, snk_note),
    "notefile": _compose(src_all_notes, snk_file),
    # Gmail and Splitwise
    "inboxcount": fam_inbox_count,
    "relemail": _compose(src_relationship, snk_email),
    "emailtext": _compose(src_email_list, snk_text),
    "relgroup": _compose(src_relationship, snk_group),
    "billsemail": _compose(src_bills, snk_email),
    "emailpay": _compose(src_email_list, snk_pay),
    "emailsplit": _compose(src_email_bills, snk_split_each),
    "relsplitemail": _compose(src_big_relationship, snk_split_equal_email),
    "relsplit": _compose(src_relationship, snk_split_equal),
    "billssplit": _compose(src_bills, snk_split_each),
    # Amazon: shopping lists in a note or an email, into the cart (train) or the wish list (test)
    "notecart": _fam_note_shop("cart"),
    "emailcart": _fam_email_shop("cart"),
    "notewishlist": _fam_note_shop("wish_list"),
    "emailwishlist": _fam_email_shop("wish_list"),
}
# held out: never in train
TEST_FAMILIES_V2 = TEST_FAMILIES | {"relgroup", "emailsplit", "relsplitemail", "notewishlist", "emailwishlist"}
