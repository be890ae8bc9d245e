"""A procedurally generated world of fictional people, places and organisations.

Every name is built from random syllables, so no pretrained model knows any
fact about it: questions over this world are contamination-free. Each entity
becomes one short encyclopedia-style passage whose sentences state its facts
(see :data:`RELATIONS`) plus ``distractor_level`` unrelated mentions of other
entities; people share surnames ``1 + distractor_level`` at a time, so a search
for one person also returns namesakes.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field

from anchorgym.envs.toolqa import names
from anchorgym.envs.toolqa.corpus import Passage, make_contents
from anchorgym.errors import ConfigError

PERSON, CITY, ORG, COUNTRY = "person", "city", "organisation", "country"
VALUE = "value"  # an attribute (year, occupation): the end of a question chain

_MENTIONS = (
    "{s} is often mentioned alongside {o}.",
    "{s} once exchanged letters with {o}.",
    "Some sources link {s} to {o}.",
)


@dataclass(frozen=True)
class Relation:
    """A functional fact ``subject -> object`` and how passages and questions phrase it."""

    name: str
    subject: str
    object: str
    phrase: str
    sentence: str
    question: str = ""  # for VALUE relations: the whole question around ``{x}``

    def pattern(self, subject: str) -> re.Pattern[str]:
        """Regex reading this relation's object for ``subject`` out of passage text."""
        before, after = self.sentence.split("{o}")
        head = re.escape(before.format(s=subject))
        return re.compile(rf"(?:^|(?<=\. )){head}(.+?){re.escape(after)}(?= |$)")


RELATIONS: dict[str, Relation] = {
    r.name: r
    for r in (
        Relation("birthplace", PERSON, CITY, "the birthplace of {x}", "{s} was born in the city of {o}."),
        Relation("employer", PERSON, ORG, "the employer of {x}", "{s} works for {o}."),
        Relation("mentor", PERSON, PERSON, "the mentor of {x}", "{s} trained under {o}."),
        Relation("birth_year", PERSON, VALUE, "", "{s} was born in the year {o}.", "In what year was {x} born?"),
        Relation("occupation", PERSON, VALUE, "", "{s} works as a {o}.", "What is the occupation of {x}?"),
        Relation("headquarters", ORG, CITY, "the headquarters city of {x}", "{s} is headquartered in {o}."),
        Relation("founder", ORG, PERSON, "the founder of {x}", "{s} was founded by {o}."),
        Relation("founded", ORG, VALUE, "", "{s} was established in {o}.", "In what year was {x} established?"),
        Relation("country", CITY, COUNTRY, "the country of {x}", "{s} is a city in {o}."),
        Relation("mayor", CITY, PERSON, "the mayor of {x}", "The mayor of {s} is {o}."),
        Relation("capital", COUNTRY, CITY, "the capital of {x}", "The capital of {s} is {o}."),
        Relation("leader", COUNTRY, PERSON, "the head of state of {x}", "The head of state of {s} is {o}."),
    )
}


@dataclass(frozen=True)
class WorldConfig:
    """Size and difficulty of a generated world.

    Attributes:
        people: number of people.
        cities: number of cities.
        organisations: number of organisations.
        countries: number of countries.
        distractor_level: 0 = unique surnames and no stray mentions; each level adds one
            namesake per surname and one unrelated mention per passage.
    """

    people: int = 120
    cities: int = 36
    organisations: int = 30
    countries: int = 8

    distractor_level: int = 1

    def __post_init__(self) -> None:
        if min(self.people, self.cities, self.organisations, self.countries) < 2:
            raise ConfigError(f"Every entity count must be at least 2, got {self}.")
        if self.cities < self.countries:
            raise ConfigError(f"Need at least one city per country: cities={self.cities} < countries={self.countries}.")
        if not 0 <= self.distractor_level <= 5:
            raise ConfigError(f"distractor_level must be from 0 to 5, got {self.distractor_level}.")


@dataclass
class Entity:
    """One fictional entity and its facts (relation name -> object name or value)."""

    name: str
    kind: str
    facts: dict[str, str] = field(default_factory=dict)
    mentions: list[str] = field(default_factory=list)


@dataclass
class World:
    """All entities, in creation order, with their passages."""

    entities: list[Entity]

    def __post_init__(self) -> None:
        self.by_name = {entity.name: entity for entity in self.entities}
        self.passage_ids = {entity.name: f"syn{i}" for i, entity in enumerate(self.entities)}

    def of_kind(self, kind: str) -> list[Entity]:
        """Entities of one kind, in creation order."""
        return [entity for entity in self.entities if entity.kind == kind]

    def passages(self, rng: random.Random) -> list[Passage]:
        """One passage per entity; sentence order is shuffled with ``rng``."""
        return [self._passage(entity, rng) for entity in self.entities]

    def _passage(self, entity: Entity, rng: random.Random) -> Passage:
        sentences = [RELATIONS[name].sentence.format(s=entity.name, o=value) for name, value in entity.facts.items()]
        sentences += [rng.choice(_MENTIONS).format(s=entity.name, o=other) for other in entity.mentions]
        rng.shuffle(sentences)
        return Passage(self.passage_ids[entity.name], make_contents(entity.name, " ".join(sentences)))


YEARS = (1700, 1995)


def generate_world(config: WorldConfig, rng: random.Random) -> World:
    """Generate entities and link every one of their facts, deterministically from ``rng``."""
    taken: set[str] = set()
    countries = [Entity(n, COUNTRY) for n in names.places(rng, config.countries, taken, names.COUNTRY_SUFFIXES)]
    cities = [Entity(n, CITY) for n in names.places(rng, config.cities, taken)]
    city_names = [city.name for city in cities]
    orgs = [Entity(n, ORG) for n in names.organisations(rng, config.organisations, city_names, taken)]
    people = [Entity(n, PERSON) for n in names.people(rng, config.people, config.distractor_level, taken)]
    _link_places(countries, cities, people, rng)
    _link_organisations(orgs, cities, people, rng)
    _link_people(people, cities, orgs, rng)
    world = World(countries + cities + orgs + people)
    everyone = [entity.name for entity in world.entities]
    for entity in world.entities:
        others = [name for name in rng.sample(everyone, config.distractor_level + 1) if name != entity.name]
        entity.mentions = others[: config.distractor_level]
    return world


def _link_places(countries: list[Entity], cities: list[Entity], people: list[Entity], rng: random.Random) -> None:
    for i, city in enumerate(cities):  # the first cities give every country at least one
        country = countries[i] if i < len(countries) else rng.choice(countries)
        city.facts["country"] = country.name
        city.facts["mayor"] = rng.choice(people).name
    for country in countries:
        own = [city.name for city in cities if city.facts["country"] == country.name]
        country.facts["capital"] = rng.choice(own)
        country.facts["leader"] = rng.choice(people).name


def _link_organisations(orgs: list[Entity], cities: list[Entity], people: list[Entity], rng: random.Random) -> None:
    for org in orgs:
        org.facts["headquarters"] = rng.choice(cities).name
        org.facts["founder"] = rng.choice(people).name
        org.facts["founded"] = str(rng.randint(*YEARS))


def _link_people(people: list[Entity], cities: list[Entity], orgs: list[Entity], rng: random.Random) -> None:
    for person in people:
        person.facts["birthplace"] = rng.choice(cities).name
        person.facts["employer"] = rng.choice(orgs).name
        person.facts["mentor"] = rng.choice([p for p in people if p is not person]).name
        person.facts["birth_year"] = str(rng.randint(*YEARS))
        person.facts["occupation"] = rng.choice(names.OCCUPATIONS)
