"""The suite's scenario families: AppWorld-shaped tasks over phone, Venmo, SimpleNote, files and (v2) more.

Version 1 (``FAMILIES``, the released @v1 suite, kept byte for byte) uses phone, Venmo, SimpleNote and
files. Version 2 (``FAMILIES_V2`` in :mod:`suite_tasks_v2`, chosen by the world plan's ``version``) adds
Gmail, Splitwise and Amazon families and deepens the short level-3 families.

A family is one scenario (AppWorld's ``task_id`` prefix) with several variants
(``<family>_<n>``). Each family composes a *source* of people (a phone
relationship, a list in a file or a note, a bills CSV, senders of Venmo payments)
with a *sink* (an answer, Venmo payments, text messages, a note, a file). People
named in files and notes must be looked up in the phone's contact book (the
world holds look-alike names), lists need pagination (``page_limit`` is at most
20 and the Venmo history has 200 payments), and every app needs a login, as in
AppWorld. Level = number of apps touched (1, 2 or 3).

Everything is computed from the world plan (:func:`suite_world.plan_world`) in
pure Python: the expert's code, the expected answer or state changes, and the
evaluation code that AppWorld's own ``TestTracker`` runs, including AppWorld's
"no other changes" check (``models.changed_model_names()``, labelled
``no_op_pass``). No ``appworld`` import: this module loads in either venv.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

PAGE_HELPER = """\
def all_pages(api, **kwargs):
    items, page = [], 0
    while True:
        batch = api(page_index=page, page_limit=20, **kwargs)
        items += batch
        if len(batch) < 20:
            return items
        page += 1
"""
PASSWORDS = """\
passwords = {p["account_name"]: p["password"] for p in apis.supervisor.show_account_passwords()}
profile = apis.supervisor.show_profile()
"""
LOGIN = {
    "phone": 'phone_token = apis.phone.login(username=profile["phone_number"], password=passwords["phone"])'
    '["access_token"]\n',
    "venmo": 'venmo_token = apis.venmo.login(username=profile["email"], password=passwords["venmo"])["access_token"]\n',
    "simple_note": 'note_token = apis.simple_note.login(username=profile["email"], password=passwords["simple_note"])'
    '["access_token"]\n',
    "file_system": 'fs_token = apis.file_system.login(username=profile["email"], password=passwords["file_system"])'
    '["access_token"]\n',
    "gmail": 'gmail_token = apis.gmail.login(username=profile["email"], password=passwords["gmail"])["access_token"]\n',
    "splitwise": 'splitwise_token = apis.splitwise.login(username=profile["email"], password=passwords["splitwise"])'
    '["access_token"]\n',
    "amazon": 'amazon_token = apis.amazon.login(username=profile["email"], password=passwords["amazon"])'
    '["access_token"]\n',
}
CONTACT_LOOKUP = """\
contacts = all_pages(apis.phone.search_contacts, access_token=phone_token)
by_name = {f"{c['first_name']} {c['last_name']}": c for c in contacts}
people = [by_name[name] for name in names]
"""

REQ_COMPLETE = "the task is marked complete with status success"
REQ_ANSWER = "the answer is correct"
REQ_PAYMENTS = "exactly the expected Venmo payments are sent"
REQ_TEXTS = "exactly the expected text messages are sent"
REQ_NOTE = "exactly one note with the expected title holds the expected lines"
REQ_FILE = "the expected file holds the expected lines"
REQ_DELETED = "exactly the expected files are deleted"
REQ_COLLATERAL = "no other changes were made"
REQ_EMAILS = "exactly the expected emails are sent"
REQ_EXPENSES = "exactly the expected Splitwise expenses are recorded"
REQ_GROUP = "exactly one Splitwise group with the expected name holds the expected members"
REQ_CART = "the Amazon cart holds exactly the expected products and quantities"
REQ_WISH_LIST = "the Amazon wish list holds exactly the expected products and quantities"

EVALUATION = """\
import json


def _lines(text):
    return sorted(line.strip() for line in (text or "").splitlines() if line.strip())


def _new(models, name, **where):
    app, model = name.split(".")
    before = {r.id for r in getattr(models.start[app], model).find_all(**where)}
    return [r for r in getattr(models.end[app], model).find_all(**where) if r.id not in before]


def evaluate(test, public_data, private_data, main_user, models, ground_truth_answer):
    task = models.end.supervisor.Task.all()[0]
    with test("the task is marked complete with status success"):
        test.case(task.status, "==", "success")
    checks = private_data["checks"]
    if "answer" in checks:
        with test("the answer is correct"):
            test.answer(json.loads(task.answer) if task.answer else None, ground_truth_answer)
    if "payments" in checks:
        me = models.end.venmo.User.find_one(email=main_user.email)
        sent = _new(models, "venmo.Transaction", sender_id=me.id)
        with test("exactly the expected Venmo payments are sent"):
            got = sorted((t.receiver.email, round(t.amount, 2), t.description.strip().lower()) for t in sent)
            test.case(got, "==", sorted(tuple(p) for p in private_data["payments"]))
    if "texts" in checks:
        me = models.end.phone.User.find_one(phone_number=main_user.phone_number)
        sent = _new(models, "phone.GlobalTextMessage", sender_id=me.id)
        with test("exactly the expected text messages are sent"):
            got = sorted((m.receiver.phone_number, m.message.strip()) for m in sent)
            test.case(got, "==", sorted(tuple(t) for t in private_data["texts"]))
    if "note" in checks:
        notes = models.end.simple_note.Note.find_all(title=private_data["note_title"])
        with test("exactly one note with the expected title holds the expected lines"):
            test.case(len(notes), "==", 1)
            test.case(_lines(notes[0].content), "==", sorted(private_data["note_lines"]))
    if "file" in checks:
        files = models.end.file_system.File.find_all(path=private_data["file_path"])
        with test("the expected file holds the expected lines"):
            test.case(len(files), "==", 1)
            test.case(_lines(files[0].content), "==", sorted(private_data["file_lines"]))
    if "deleted" in checks:
        start = {f.path for f in models.start.file_system.File.all()}
        end = {f.path for f in models.end.file_system.File.all()}
        with test("exactly the expected files are deleted"):
            test.case(sorted(start - end), "==", sorted(private_data["deleted"]))
    with test("no other changes were made"):
        unexpected = []
        for name in sorted(models.changed_model_names()):
            if name in private_data["changed_models"]:
                continue
            added, updated, removed = models.changed_records(name)
            logins_only = name.endswith(".User") and not added and not removed and all(
                models.changed_field_names(name, r.id) <= {"last_logged_in"} for r in updated
            )  # a login stamps the account's last_logged_in
            if not logins_only:
                unexpected.append(name)
        test.case(unexpected, "==", [])
"""
EVALUATION_V2_CHECKS = """\
    if "emails" in checks:
        me = models.end.gmail.User.find_one(email=main_user.email)
        sent = _new(models, "gmail.Email", sender_id=me.id)
        with test("exactly the expected emails are sent"):
            got = sorted([sorted(e.recipient_email_addresses), e.subject.strip(), e.body.strip()] for e in sent)
            test.case(got, "==", sorted([sorted(r), s, b] for r, s, b in private_data["emails"]))
    if "expenses" in checks:
        me = models.end.splitwise.User.find_one(email=main_user.email)
        added = _new(models, "splitwise.Expense", user_id=me.id)
        with test("exactly the expected Splitwise expenses are recorded"):
            got = sorted(
                [
                    (e.description or "").strip().lower(),
                    round(e.amount, 2),
                    e.payer.email,
                    sorted([s.debtor.email, round(s.share_amount, 2)] for s in e.expense_shares),
                    e.group_id,
                ]
                for e in added
            )
            test.case(got, "==", sorted(private_data["expenses"]))
    if "group" in checks:
        groups = models.end.splitwise.Group.find_all(name=private_data["group_name"])
        with test("exactly one Splitwise group with the expected name holds the expected members"):
            test.case(len(groups), "==", 1)
            members = models.end.splitwise.GroupMember.find_all(group_id=groups[0].id)
            test.case(sorted(m.user.email for m in members), "==", sorted(private_data["group_members"]))
    for key, model in (("cart", "CartEntry"), ("wish_list", "WishListEntry")):
        if key in checks:
            me = models.end.amazon.User.find_one(email=main_user.email)
            entries = getattr(models.end.amazon, model).find_all(user_id=me.id)
            words = "cart" if key == "cart" else "wish list"
            with test(f"the Amazon {words} holds exactly the expected products and quantities"):
                test.case(sorted([e.product.name, e.quantity] for e in entries), "==", sorted(private_data[key]))
"""
# version 2's evaluation: version 1's with the Gmail, Splitwise and Amazon checks before "no other changes"
_COLLATERAL_BLOCK = '    with test("no other changes were made"):'
EVALUATION_V2 = EVALUATION.replace(_COLLATERAL_BLOCK, EVALUATION_V2_CHECKS + _COLLATERAL_BLOCK)
CHECK_REQUIREMENTS = {
    "answer": REQ_ANSWER,
    "payments": REQ_PAYMENTS,
    "texts": REQ_TEXTS,
    "note": REQ_NOTE,
    "file": REQ_FILE,
    "deleted": REQ_DELETED,
    "emails": REQ_EMAILS,  # version 2
    "expenses": REQ_EXPENSES,
    "group": REQ_GROUP,
    "cart": REQ_CART,
    "wish_list": REQ_WISH_LIST,
}
V2_CHECKS = ("emails", "expenses", "group", "cart", "wish_list")
CHECK_MODELS = {  # the models a check's changes may touch
    "payments": ["venmo.Notification", "venmo.Transaction", "venmo.User"],
    "texts": ["phone.GlobalTextMessage", "phone.UserTextMessage"],
    "note": ["simple_note.Note"],
    "file": ["file_system.File", "file_system.Directory"],
    "deleted": ["file_system.File", "file_system.Directory"],
    "emails": ["gmail.Email", "gmail.GlobalEmailThread", "gmail.UserEmailThread"],
    "expenses": ["splitwise.Expense", "splitwise.ExpenseShare", "splitwise.Notification"],
    "group": ["splitwise.Group", "splitwise.GroupMember", "splitwise.Notification"],
    "cart": ["amazon.CartEntry"],
    "wish_list": ["amazon.WishListEntry"],
}


@dataclass
class SuiteTask:
    """One generated task: AppWorld's files plus our expert and bookkeeping."""

    id: str
    family: str
    level: int
    apps: list[str]
    instruction: str
    solution: str
    answer: Any = None
    private_data: dict[str, Any] = field(default_factory=dict)

    @property
    def app(self) -> str:
        """The apps, joined (anchorgym's task type)."""
        return "+".join(self.apps)

    @property
    def kind(self) -> str:
        """The scenario family."""
        return self.family

    @property
    def evaluation_code(self) -> str:
        """The ``evaluation.py`` source (shared; ``private_data["checks"]`` selects the checks).

        Tasks with Gmail or Splitwise checks (suite version 2) get :data:`EVALUATION_V2`; every other task
        keeps version 1's file byte for byte.
        """
        return EVALUATION_V2 if set(self.private_data["checks"]) & set(V2_CHECKS) else EVALUATION

    @property
    def requirements(self) -> list[tuple[str, str]]:
        """(requirement, AppWorld label) pairs in the order the evaluation runs them."""
        found = [(REQ_COMPLETE, "no_op_fail")]
        found += [(CHECK_REQUIREMENTS[c], "no_op_fail") for c in CHECK_REQUIREMENTS if c in self.private_data["checks"]]
        return [*found, (REQ_COLLATERAL, "no_op_pass")]


# ----------------------------------------------------------------- sources
@dataclass
class Source:
    """A list of people the task is about: its phrase, its apps, its code and the people themselves."""

    phrase: str
    apps: list[str]
    code: str
    people: list[dict[str, Any]]
    amounts: dict[int, float] = field(default_factory=dict)  # bills: person index -> amount


def _full(person: dict[str, Any]) -> str:
    return f"{person['first_name']} {person['last_name']}"


def _by_full_names(plan: dict[str, Any], text: str) -> list[dict[str, Any]]:
    names = [line.strip() for line in text.splitlines() if line.strip()]
    return [next(p for p in plan["people"][1:] if p["contact"] and _full(p) == name) for name in names]


def src_relationship(plan: dict[str, Any], rng: random.Random, at_least: int = 2) -> Source:
    """My contacts with a relationship that at least ``at_least`` of them share (phone, paginated search)."""
    counts = {r: sum(r in p["relationships"] for p in plan["people"]) for r in _relationships(plan)}
    relationship = rng.choice(sorted(r for r, n in counts.items() if n >= at_least))
    people = [p for p in plan["people"][1:] if relationship in p["relationships"]]
    code = f'people = all_pages(apis.phone.search_contacts, access_token=phone_token, relationship="{relationship}")\n'
    return Source(f"my {relationship}s (in my phone's contact book)", ["phone"], code, people)


def src_file(plan: dict[str, Any], rng: random.Random) -> Source:
    """The people listed in a file, looked up in the contact book."""
    files = [f for f in plan["files"] if f["path"].startswith("~/documents/lists/team_")]
    file = rng.choice(files)
    code = (
        f'names = apis.file_system.show_file(file_path="{file["path"]}", access_token=fs_token)["content"]'
        ".splitlines()\n"
        "names = [n.strip() for n in names if n.strip()]\n" + CONTACT_LOOKUP
    )
    phrase = f"the people listed in my file {file['path']} (one full name per line; find them in my phone contacts)"
    return Source(phrase, ["file_system", "phone"], code, _by_full_names(plan, file["content"]))


def src_note(plan: dict[str, Any], rng: random.Random) -> Source:
    """The people listed in a SimpleNote note, looked up in the contact book."""
    note = rng.choice([n for n in plan["notes"] if n["title"].startswith("Invite List")])
    code = (
        f'found = apis.simple_note.search_notes(access_token=note_token, query="{note["title"]}", page_limit=20)\n'
        f'note_id = next(n["note_id"] for n in found if n["title"] == "{note["title"]}")\n'
        'content = apis.simple_note.show_note(note_id=note_id, access_token=note_token)["content"]\n'
        "names = [n.strip() for n in content.splitlines() if n.strip()]\n" + CONTACT_LOOKUP
    )
    phrase = f"the people listed in my SimpleNote note '{note['title']}' (find them in my phone contacts)"
    return Source(phrase, ["simple_note", "phone"], code, _by_full_names(plan, note["content"]))


def src_bills(plan: dict[str, Any], rng: random.Random) -> Source:
    """The rows (name, amount) of a bills CSV, looked up in the contact book."""
    file = rng.choice([f for f in plan["files"] if f["path"].startswith("~/documents/bills/")])
    rows = [line.split(",") for line in file["content"].splitlines()[1:]]
    people = _by_full_names(plan, "\n".join(name for name, _ in rows))
    amounts = {p["index"]: float(amount) for p, (_, amount) in zip(people, rows, strict=True)}
    code = (
        f'text = apis.file_system.show_file(file_path="{file["path"]}", access_token=fs_token)["content"]\n'
        "rows = [line.split(',') for line in text.splitlines()[1:] if line.strip()]\n"
        "names = [name.strip() for name, _ in rows]\n"
        "amounts = {name.strip(): float(amount) for name, amount in rows}\n" + CONTACT_LOOKUP
    )
    phrase = f"the people in my bills file {file['path']} (name,amount rows; find them in my phone contacts)"
    return Source(phrase, ["file_system", "phone"], code, people, amounts)


def src_venmo_senders(plan: dict[str, Any], rng: random.Random) -> Source:
    """The contacts who paid me on Venmo since a date (paginated Venmo history + contact book)."""
    day = rng.randrange(20, 60)
    since = _days_before(plan, day)
    senders = {pay["sender"] for pay in plan["payments"] if pay["receiver"] == 0 and pay["created_at"] >= since}
    people = [p for p in plan["people"][1:] if p["index"] in senders and p["contact"]]
    code = (
        'received = all_pages(apis.venmo.show_transactions, access_token=venmo_token, direction="received", '
        f'min_created_at="{since}")\n'
        'emails = {t["sender"]["email"] for t in received}\n'
        "contacts = all_pages(apis.phone.search_contacts, access_token=phone_token)\n"
        'people = [c for c in contacts if c["email"] in emails]\n'
    )
    phrase = f"everyone in my phone contacts who sent me money on Venmo since {since}"
    return Source(phrase, ["venmo", "phone"], code, people)


def _relationships(plan: dict[str, Any]) -> list[str]:
    return sorted({r for p in plan["people"] for r in p["relationships"]})


def _days_before(plan: dict[str, Any], days: int) -> str:
    from datetime import datetime, timedelta

    from suite_world import WORLD_DATETIME

    return (datetime.fromisoformat(WORLD_DATETIME) - timedelta(days=days)).date().isoformat()


# ----------------------------------------------------------------- sinks
@dataclass
class Sink:
    """What to do with the people: its phrase, apps, code, answer and checks."""

    phrase: str
    apps: list[str]
    code: str
    checks: dict[str, Any]
    answer: Any = None


MESSAGES = ["See you at 7!", "Running late, sorry.", "Happy Friday!", "Thanks again!", "Call me when free."]
NOTES = ["dinner", "tickets", "groceries", "gas", "snacks", "rent"]


def snk_count(source: Source, plan: dict[str, Any], rng: random.Random) -> Sink:
    """Answer how many people."""
    return Sink(
        "How many people is that? Answer with the number.", [], "answer = len(people)\n", {}, len(source.people)
    )


def snk_pay(source: Source, plan: dict[str, Any], rng: random.Random) -> Sink:
    """Pay each person on Venmo (a fixed amount, or the amount a bills file lists)."""
    note = rng.choice(NOTES)
    if source.amounts:
        payments = [[p["email"], source.amounts[p["index"]], note] for p in source.people]
        phrase = f"Pay each of them on Venmo the amount next to their name, with the note '{note}'."
        code = (
            "for person in people:\n"
            "    amount = amounts[f\"{person['first_name']} {person['last_name']}\"]\n"
            f'    apis.venmo.create_transaction(receiver_email=person["email"], amount=amount, description="{note}", '
            "access_token=venmo_token)\n"
        )
    else:
        amount = float(rng.randrange(5, 40))
        payments = [[p["email"], amount, note] for p in source.people]
        phrase = f"Send each of them ${amount:.2f} on Venmo with the note '{note}'."
        code = (
            "for person in people:\n"
            f'    apis.venmo.create_transaction(receiver_email=person["email"], amount={amount}, description="{note}", '
            "access_token=venmo_token)\n"
        )
    return Sink(phrase, ["venmo"], code, {"payments": payments})


def snk_text(source: Source, plan: dict[str, Any], rng: random.Random) -> Sink:
    """Text each person a message (phone)."""
    message = rng.choice(MESSAGES)
    code = (
        "for person in people:\n"
        f'    apis.phone.send_text_message(phone_number=person["phone_number"], message="{message}", '
        "access_token=phone_token)\n"
    )
    texts = [[p["phone_number"], message] for p in source.people]
    return Sink(f'Text each of them "{message}" from my phone.', ["phone"], code, {"texts": texts})


def _value_lines(source: Source, what: str) -> list[str]:
    if what == "amount":
        return [f"{_full(p)}: {source.amounts[p['index']]:.2f}" for p in source.people]
    return [f"{_full(p)}: {p[what]}" for p in source.people]


def _value_code(source: Source, what: str) -> str:
    if what == "amount":
        amount = "amounts[p['first_name'] + ' ' + p['last_name']]"
        return f"lines = [f\"{{p['first_name']}} {{p['last_name']}}: {{{amount}:.2f}}\" for p in people]\n"
    return f"lines = [f\"{{p['first_name']}} {{p['last_name']}}: {{p['{what}']}}\" for p in people]\n"


def _what(source: Source, rng: random.Random) -> tuple[str, str]:
    what = "amount" if source.amounts else rng.choice(["phone_number", "email"])
    words = {"amount": "amount", "phone_number": "phone number", "email": "email address"}
    return what, words[what]


def snk_note(source: Source, plan: dict[str, Any], rng: random.Random) -> Sink:
    """Create a note listing each person with a value."""
    what, word = _what(source, rng)
    title = f"{rng.choice(['Contacts', 'Roster', 'Directory', 'People'])} {rng.randrange(100, 999)}"
    code = (
        _value_code(source, what)
        + f'apis.simple_note.create_note(title="{title}", content="\\n".join(lines), access_token=note_token)\n'
    )
    phrase = f"Create a SimpleNote note titled '{title}' with one line per person: 'First Last: {word}'."
    return Sink(
        phrase, ["simple_note"], code, {"note": True, "note_title": title, "note_lines": _value_lines(source, what)}
    )


def snk_file(source: Source, plan: dict[str, Any], rng: random.Random) -> Sink:
    """Write a file listing each person with a value."""
    what, word = _what(source, rng)
    path = f"~/documents/exports/{rng.choice(['people', 'roster', 'export', 'list'])}_{rng.randrange(100, 999)}.txt"
    code = (
        _value_code(source, what)
        + f'apis.file_system.create_file(file_path="{path}", content="\\n".join(lines), access_token=fs_token)\n'
    )
    phrase = f"Write a file {path} with one line per person: 'First Last: {word}'."
    full = path.replace("~/", "/home/ada/")
    return Sink(
        phrase, ["file_system"], code, {"file": True, "file_path": full, "file_lines": _value_lines(source, what)}
    )


def _totals(plan: dict[str, Any], people: list[dict[str, Any]], sent: bool) -> dict[int, float]:
    totals = {}
    for person in people:
        pays = [
            pay["amount"]
            for pay in plan["payments"]
            if (pay["sender"], pay["receiver"]) == ((0, person["index"]) if sent else (person["index"], 0))
        ]
        totals[person["index"]] = round(sum(pays), 2)
    return totals


def snk_venmo_total(source: Source, plan: dict[str, Any], rng: random.Random) -> Sink:
    """Answer the total I sent to (or received from) them on Venmo, all time (a loop of paginated queries)."""
    sent = rng.random() < 0.5
    direction = "sent" if sent else "received"
    code = (
        "total = 0\n"
        "for person in people:\n"
        f'    pays = all_pages(apis.venmo.show_transactions, access_token=venmo_token, user_email=person["email"], '
        f'direction="{direction}")\n'
        '    total += sum(t["amount"] for t in pays)\n'
        "answer = round(total, 2)\n"
    )
    word = "sent to them" if sent else "received from them"
    total = round(sum(_totals(plan, source.people, sent).values()), 2)
    return Sink(
        f"How much money have I {word} on Venmo in total, over all time? Answer with the number.",
        ["venmo"],
        code,
        {},
        total,
    )


def snk_venmo_report(source: Source, plan: dict[str, Any], rng: random.Random, to: str) -> Sink:
    """Write (note or file) each person's Venmo total sent to me, all time."""
    totals = _totals(plan, source.people, sent=False)
    lines = [f"{_full(p)}: {totals[p['index']]:.2f}" for p in source.people]
    code = (
        "lines = []\n"
        "for person in people:\n"
        '    pays = all_pages(apis.venmo.show_transactions, access_token=venmo_token, user_email=person["email"], '
        'direction="received")\n'
        "    lines.append(f\"{person['first_name']} {person['last_name']}: {sum(t['amount'] for t in pays):.2f}\")\n"
    )
    line = "'First Last: total they ever sent me on Venmo' (two decimals)"
    if to == "note":
        title = f"Venmo Report {rng.randrange(100, 999)}"
        code += f'apis.simple_note.create_note(title="{title}", content="\\n".join(lines), access_token=note_token)\n'
        phrase = f"Create a SimpleNote note titled '{title}' with one line per person: {line}."
        return Sink(phrase, ["venmo", "simple_note"], code, {"note": True, "note_title": title, "note_lines": lines})
    path = f"~/documents/reports/venmo_{rng.randrange(100, 999)}.txt"
    code += f'apis.file_system.create_file(file_path="{path}", content="\\n".join(lines), access_token=fs_token)\n'
    phrase = f"Write a file {path} with one line per person: {line}."
    full = path.replace("~/", "/home/ada/")
    return Sink(phrase, ["venmo", "file_system"], code, {"file": True, "file_path": full, "file_lines": lines})


def snk_pay_and_log(source: Source, plan: dict[str, Any], rng: random.Random) -> Sink:
    """Pay each person, then log the payments in a file (Venmo + files)."""
    pay = snk_pay(source, plan, rng)
    path = f"~/documents/logs/payments_{rng.randrange(100, 999)}.txt"
    lines = [f"{p[0]}: {p[1]:.2f}" for p in pay.checks["payments"]]
    if source.amounts:
        amount = "amounts[person['first_name'] + ' ' + person['last_name']]"
    else:
        amount = repr(pay.checks["payments"][0][1] if pay.checks["payments"] else 0.0)
    code = pay.code + f"log = [f\"{{person['email']}}: {{{amount}:.2f}}\" for person in people]\n"
    code += f'apis.file_system.create_file(file_path="{path}", content="\\n".join(log), access_token=fs_token)\n'
    phrase = pay.phrase + f" Then write a file {path} with one line per payment: 'email: amount' (two decimals)."
    full = path.replace("~/", "/home/ada/")
    checks = {**pay.checks, "file": True, "file_path": full, "file_lines": lines}
    return Sink(phrase, ["venmo", "file_system"], code, checks)


def snk_text_and_note(source: Source, plan: dict[str, Any], rng: random.Random) -> Sink:
    """Text each person, then list whom you texted in a note (phone + SimpleNote)."""
    text = snk_text(source, plan, rng)
    title = f"Texted {rng.randrange(100, 999)}"
    lines = [_full(p) for p in source.people]
    code = (
        text.code
        + "names = [f\"{p['first_name']} {p['last_name']}\" for p in people]\n"
        + f'apis.simple_note.create_note(title="{title}", content="\\n".join(names), access_token=note_token)\n'
    )
    phrase = text.phrase + f" Then create a SimpleNote note titled '{title}' listing their full names, one per line."
    checks = {**text.checks, "note": True, "note_title": title, "note_lines": lines}
    return Sink(phrase, ["phone", "simple_note"], code, checks)


# ----------------------------------------------------------------- single-app families
def fam_birthday(plan: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """L1 phone: a contact's birthday, among look-alike names."""
    firsts = [p["first_name"] for p in plan["people"][1:] if p["contact"]]
    person = rng.choice([p for p in plan["people"][1:] if p["contact"] and firsts.count(p["first_name"]) == 2])
    code = (
        f'found = all_pages(apis.phone.search_contacts, access_token=phone_token, query="{person["first_name"]}")\n'
        f'answer = next(c["birthday"] for c in found if c["last_name"] == "{person["last_name"]}")\n'
    )
    instruction = f"What is {_full(person)}'s birthday according to my phone contacts? Answer as YYYY-MM-DD."
    return {"instruction": instruction, "apps": ["phone"], "code": code, "answer": person["birthday"], "checks": {}}


def fam_received_since(plan: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """L1 Venmo: the total received since a date (paginated history)."""
    since = _days_before(plan, rng.randrange(40, 150))
    total = round(sum(p["amount"] for p in plan["payments"] if p["receiver"] == 0 and p["created_at"] >= since), 2)
    code = (
        'received = all_pages(apis.venmo.show_transactions, access_token=venmo_token, direction="received", '
        f'min_created_at="{since}")\n'
        'answer = round(sum(t["amount"] for t in received), 2)\n'
    )
    instruction = f"How much money have I received on Venmo since {since} (inclusive)? Answer with the number."
    return {"instruction": instruction, "apps": ["venmo"], "code": code, "answer": total, "checks": {}}


def fam_sent_count(plan: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """L1 Venmo: how many payments I sent with a given note (paginated, filtered)."""
    note = rng.choice(sorted({p["note"] for p in plan["payments"] if p["sender"] == 0}))
    count = sum(p["sender"] == 0 and p["note"] == note for p in plan["payments"])
    code = (
        'sent = all_pages(apis.venmo.show_transactions, access_token=venmo_token, direction="sent")\n'
        f'answer = sum(t["description"] == "{note}" for t in sent)\n'
    )
    instruction = f"How many Venmo payments have I ever sent with the note exactly '{note}'? Answer with the number."
    return {"instruction": instruction, "apps": ["venmo"], "code": code, "answer": count, "checks": {}}


def fam_tag_count(plan: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """L1 SimpleNote: count notes with a tag (paginated)."""
    tag = rng.choice(sorted({t for n in plan["notes"] for t in n["tags"]}))
    count = sum(tag in n["tags"] for n in plan["notes"])
    code = f'answer = len(all_pages(apis.simple_note.search_notes, access_token=note_token, tags=["{tag}"]))\n'
    instruction = f"How many of my SimpleNote notes are tagged '{tag}'? Answer with the number."
    return {"instruction": instruction, "apps": ["simple_note"], "code": code, "answer": count, "checks": {}}


def fam_delete_ext(plan: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """L1 files: delete every file with an extension under a folder (a listing, then a loop)."""
    options = sorted({(f["path"].split("/")[1], f["path"].rsplit(".", 1)[1]) for f in plan["files"]})
    folder, ext = rng.choice(options)
    deleted = [
        f["path"].replace("~/", "/home/ada/")
        for f in plan["files"]
        if f["path"].startswith(f"~/{folder}/") and f["path"].endswith(f".{ext}")
    ]
    code = (
        f'paths = apis.file_system.show_directory(directory_path="~/{folder}/", entry_type="files", '
        "access_token=fs_token)\n"
        f'for path in [p for p in paths if p.endswith(".{ext}")]:\n'
        "    apis.file_system.delete_file(file_path=path, access_token=fs_token)\n"
    )
    instruction = f"Delete every .{ext} file in my ~/{folder}/ folder, including its sub-folders."
    return {
        "instruction": instruction,
        "apps": ["file_system"],
        "code": code,
        "answer": None,
        "checks": {"deleted": deleted},
    }


def fam_note_to_file(plan: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """L2 SimpleNote + files: save a note's content into a file."""
    note = rng.choice([n for n in plan["notes"] if not n["title"].startswith("Invite")])
    name = note["title"].lower().replace(" ", "_")
    path = f"~/documents/notes/{name}.txt"
    code = (
        f'found = all_pages(apis.simple_note.search_notes, access_token=note_token, query="{note["title"]}")\n'
        f'note_id = next(n["note_id"] for n in found if n["title"] == "{note["title"]}")\n'
        'content = apis.simple_note.show_note(note_id=note_id, access_token=note_token)["content"]\n'
        f'apis.file_system.create_file(file_path="{path}", content=content, access_token=fs_token)\n'
    )
    instruction = f"Copy the content of my SimpleNote note '{note['title']}' into a new file {path}."
    lines = [line.strip() for line in note["content"].splitlines() if line.strip()]  # v2 shopping lists: several
    checks = {"file": True, "file_path": path.replace("~/", "/home/ada/"), "file_lines": lines}
    return {
        "instruction": instruction,
        "apps": ["simple_note", "file_system"],
        "code": code,
        "answer": None,
        "checks": checks,
    }


def fam_file_to_note(plan: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """L2 files + SimpleNote: a note whose content is a file's."""
    file = rng.choice([f for f in plan["files"] if f["path"].startswith("~/documents/")])
    title = f"From {file['path'].rsplit('/', 1)[1]}"
    code = (
        f'content = apis.file_system.show_file(file_path="{file["path"]}", access_token=fs_token)["content"]\n'
        f'apis.simple_note.create_note(title="{title}", content=content, access_token=note_token)\n'
    )
    instruction = f"Create a SimpleNote note titled '{title}' whose content is the content of my file {file['path']}."
    checks = {
        "note": True,
        "note_title": title,
        "note_lines": [line.strip() for line in file["content"].splitlines() if line.strip()],
    }
    return {
        "instruction": instruction,
        "apps": ["file_system", "simple_note"],
        "code": code,
        "answer": None,
        "checks": checks,
    }


# ----------------------------------------------------------------- the family table
SinkFn = Callable[[Source, dict[str, Any], random.Random], Sink]


def _compose(
    source_fn: Callable[..., Source], sink_fn: SinkFn
) -> Callable[[dict[str, Any], random.Random], dict[str, Any]]:
    def build(plan: dict[str, Any], rng: random.Random) -> dict[str, Any]:
        source = source_fn(plan, rng)
        sink = sink_fn(source, plan, rng)
        instruction = f"Consider {source.phrase}. {sink.phrase}"
        return {
            "instruction": instruction,
            "apps": _ordered({*source.apps, *sink.apps}),
            "code": source.code + sink.code,
            "answer": sink.answer,
            "checks": sink.checks,
        }

    return build


def _note_report(source: Source, plan: dict[str, Any], rng: random.Random) -> Sink:
    return snk_venmo_report(source, plan, rng, "note")


def _file_report(source: Source, plan: dict[str, Any], rng: random.Random) -> Sink:
    return snk_venmo_report(source, plan, rng, "file")


APP_ORDER = ("supervisor", "phone", "venmo", "simple_note", "file_system", "gmail", "splitwise", "amazon")


def _ordered(apps: set[str]) -> list[str]:
    return [a for a in APP_ORDER if a in apps]


FAMILIES: dict[str, Callable[[dict[str, Any], random.Random], dict[str, Any]]] = {
    # level 1: one app
    "relcount": _compose(src_relationship, snk_count),
    "reltext": _compose(src_relationship, snk_text),
    "birthday": fam_birthday,
    "receivedsince": fam_received_since,
    "sentcount": fam_sent_count,
    "tagcount": fam_tag_count,
    "deleteext": fam_delete_ext,
    # level 2: two apps
    "relpay": _compose(src_relationship, snk_pay),
    "relnote": _compose(src_relationship, snk_note),
    "relfile": _compose(src_relationship, snk_file),
    "reltotal": _compose(src_relationship, snk_venmo_total),
    "filetext": _compose(src_file, snk_text),
    "notetext": _compose(src_note, snk_text),
    "filecount": _compose(src_file, snk_count),
    "billstext": _compose(src_bills, snk_text),
    "senderstext": _compose(src_venmo_senders, snk_text),
    "senderscount": _compose(src_venmo_senders, snk_count),
    "notetofile": fam_note_to_file,
    "filetonote": fam_file_to_note,
    # level 3: three apps
    "filepay": _compose(src_file, snk_pay),
    "notepay": _compose(src_note, snk_pay),
    "billspay": _compose(src_bills, snk_pay),
    "filenote": _compose(src_file, snk_note),
    "notefile": _compose(src_note, snk_file),
    "billsnote": _compose(src_bills, snk_note),
    "filetotal": _compose(src_file, snk_venmo_total),
    "notetotal": _compose(src_note, snk_venmo_total),
    "relreportnote": _compose(src_relationship, _note_report),
    "relreportfile": _compose(src_relationship, _file_report),
    "relpaylog": _compose(src_relationship, snk_pay_and_log),
    "senderstextnote": _compose(src_venmo_senders, snk_text_and_note),
    "filereportnote": _compose(src_file, _note_report),
    "notepaylog": _compose(src_note, snk_pay_and_log),
}
TEST_FAMILIES = frozenset(
    {
        "birthday",
        "tagcount",
        "relfile",
        "notetext",
        "senderscount",
        "billspay",
        "notefile",
        "relreportfile",
        "notepaylog",
    }
)  # held out: never in train


def _header(apps: list[str]) -> str:
    return PAGE_HELPER + PASSWORDS + "".join(LOGIN[a] for a in apps)


def families_of(plan: dict[str, Any]) -> dict[str, Callable[[dict[str, Any], random.Random], dict[str, Any]]]:
    """The family table of the suite version ``plan`` was drawn for (see :func:`suite_world.plan_world`)."""
    if plan.get("version", 1) == 2:
        from suite_tasks_v2 import FAMILIES_V2

        return FAMILIES_V2
    return FAMILIES


def test_families(version: int) -> frozenset[str]:
    """The held-out (test) families of a suite version."""
    if version == 2:
        from suite_tasks_v2 import TEST_FAMILIES_V2

        return TEST_FAMILIES_V2
    return TEST_FAMILIES


def make_task(family: str, variant: int, plan: dict[str, Any], seed: int) -> SuiteTask:
    """Build variant ``variant`` of ``family`` over the world ``plan``, deterministically from ``seed``."""
    rng = random.Random(f"{seed}:{family}:{variant}")
    built = families_of(plan)[family](plan, rng)
    apps = built["apps"]
    answering = built["answer"] is not None
    completion = "apis.supervisor.complete_task(answer=answer)\n" if answering else "apis.supervisor.complete_task()\n"
    checks = {key for key in CHECK_REQUIREMENTS if key in built["checks"]} | ({"answer"} if answering else set())
    changed = sorted({m for c in checks for m in CHECK_MODELS.get(c, [])})
    private = {**built["checks"], "checks": sorted(checks), "changed_models": changed}
    return SuiteTask(
        id=f"{family}_{variant}",
        family=family,
        level=min(3, len(apps)),  # AppWorld grades difficulty 1-3
        apps=apps,
        instruction=built["instruction"],
        solution=_header(apps) + built["code"] + completion,
        answer=built["answer"],
        private_data=private,
    )


def all_tasks(plan: dict[str, Any], seed: int, variants: int, families: list[str] | None = None) -> list[SuiteTask]:
    """Every family's first ``variants`` variants, dropping variants identical to an earlier one."""
    tasks = []
    for family in families or list(families_of(plan)):
        seen = set()
        number = 0
        for attempt in range(variants * 4):
            task = make_task(family, attempt, plan, seed)
            if task.instruction in seen:
                continue
            seen.add(task.instruction)
            number += 1
            task.id = f"{family}_{number}"
            tasks.append(task)
            if number == variants:
                break
    return tasks
