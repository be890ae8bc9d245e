"""Locating, installing and loading the WebShop product data.

The data folder holds a product file and an attribute file. Both the names of
the shared 1,000-product setting (``products_1k.json``, ``items_ins_v2_1000.json``)
and those of the original WebShop release (``items_shuffle*.json``,
``items_ins_v2*.json``) are accepted, so a user with the full release can point
at it. The folder is found, in order, from the ``data_dir`` argument,
``$WEBSHOP_DATA``, the user cache (``anchorgym data webshop --from PATH``) and
the shared data folder beside a source checkout (or ``$ANCHORGYM_SHARED_DATA``).

Products are normalised to WebShop's processed form (``Title``, ``Price``,
``pricing``, ``options``, ``Attributes``, ``BulletPoints``...), whether the file
holds raw scraped items or already processed ones.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from anchorgym.cache import cache_root
from anchorgym.errors import ConfigError, DataNotFoundError
from anchorgym.shared_data import shared_data_candidates

PRODUCT_PATTERNS = ("products_*.json", "items_shuffle*.json")
ATTRIBUTE_PATTERNS = ("items_ins_v2*.json",)
HUMAN_GOALS = "human_goals.json"
DEFAULT_PRICE = 100.0  # WebShop's price for items without one


@dataclass(frozen=True)
class WebShopData:
    """The loaded product catalogue.

    Attributes:
        products: processed product dicts in file order (duplicates and bad asins dropped).
        by_asin: the same products keyed by asin.
        source: the folder they came from.
    """

    products: list[dict[str, Any]]
    by_asin: dict[str, dict[str, Any]]
    source: Path


def cache_dir() -> Path:
    """Return the user cache folder for WebShop data (``webshop/`` in :func:`anchorgym.cache.cache_root`)."""
    return cache_root() / "webshop"


def _find(folder: Path, patterns: tuple[str, ...]) -> Path | None:
    for pattern in patterns:
        matches = sorted(folder.glob(pattern))
        if matches:
            return matches[0]
    return None


def _candidates(data_dir: str | Path | None) -> list[Path]:
    if data_dir is not None:
        return [Path(data_dir)]
    found = [Path(os.environ["WEBSHOP_DATA"])] if os.environ.get("WEBSHOP_DATA") else []
    return found + [cache_dir(), *shared_data_candidates("webshop")]


def locate(data_dir: str | Path | None = None) -> Path:
    """Return the folder holding the WebShop product and attribute files.

    Raises:
        DataNotFoundError: no candidate folder holds both files.
    """
    tried = _candidates(data_dir)
    for folder in tried:
        if _find(folder, PRODUCT_PATTERNS) and _find(folder, ATTRIBUTE_PATTERNS):
            return folder
    listed = ", ".join(str(p) for p in tried)
    raise DataNotFoundError(
        f"WebShop data not found (looked in {listed} for products_*.json or items_shuffle*.json "
        "plus items_ins_v2*.json). Install it with: anchorgym data webshop --from PATH, "
        "or set WEBSHOP_DATA to the folder."
    )


def install(source: str | Path | None, target: str | Path | None = None) -> Path:
    """Copy the WebShop files from ``source`` into the user cache (or ``target``).

    Args:
        source: a folder with the product and attribute files (and optionally human_goals.json).
        target: where to install; defaults to :func:`cache_dir`.

    Returns:
        The folder the data now lives in.

    Raises:
        DataNotFoundError: no ``source`` was given (WebShop's data is not downloaded), or it lacks the files.
    """
    if source is None:
        raise DataNotFoundError(
            "anchorgym data webshop needs --from PATH: a folder with products_*.json (or WebShop's "
            "items_shuffle*.json) and items_ins_v2*.json (WebShop's data/ folder)."
        )
    source = Path(source).expanduser()
    products, attributes = _find(source, PRODUCT_PATTERNS), _find(source, ATTRIBUTE_PATTERNS)
    if not source.is_dir() or products is None or attributes is None:
        raise DataNotFoundError(
            f"{source} is not a WebShop data folder: it needs products_*.json (or items_shuffle*.json) "
            "and items_ins_v2*.json. Point --from at the folder holding them."
        )
    target = Path(target) if target is not None else cache_dir()
    target.mkdir(parents=True, exist_ok=True)
    for path in (products, attributes, source / HUMAN_GOALS):
        if path.is_file():
            _atomic_copy(path, target / path.name)
    return target


def _atomic_copy(src: Path, dst: Path) -> None:
    fd, tmp = tempfile.mkstemp(dir=dst.parent, prefix=f".{dst.name}.")
    os.close(fd)
    shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


def file_hashes(folder: str | Path) -> dict[str, str]:
    """Return the sha256 of the product and attribute files the env reads from ``folder``."""
    hashes = {}
    for patterns in (PRODUCT_PATTERNS, ATTRIBUTE_PATTERNS):
        path = _find(Path(folder), patterns)
        if path is not None:
            hashes[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
    return hashes


def _read_json(path: Path) -> Any:
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except json.JSONDecodeError as error:
        raise ConfigError(f"{path} is not valid JSON ({error}). Re-install the WebShop data.") from error


def load(data_dir: str | Path | None = None) -> WebShopData:
    """Load and normalise the product catalogue with its attributes and instructions."""
    folder = locate(data_dir)
    raw = _read_json(_find(folder, PRODUCT_PATTERNS))
    attributes = _read_json(_find(folder, ATTRIBUTE_PATTERNS))
    products, seen = [], set()
    for item in raw:
        asin = str(item.get("asin", ""))
        if asin in ("", "nan") or len(asin) > 10 or asin in seen:  # WebShop's filter
            continue
        seen.add(asin)
        products.append(normalize_product(item, attributes.get(asin, {})))
    return WebShopData(products, {p["asin"]: p for p in products}, folder)


def parse_pricing(pricing: Any) -> list[float]:
    """Return WebShop's ``pricing`` list (one price, or a low/high range).

    >>> parse_pricing("$12.99")
    [12.99]
    >>> parse_pricing("$10.00 - $1,020.50")
    [10.0, 1020.5]
    >>> parse_pricing("")
    [100.0]
    """
    if isinstance(pricing, list) and all(isinstance(p, (int, float)) for p in pricing) and pricing:
        return [float(p) for p in pricing[:2]]
    if not pricing:
        return [DEFAULT_PRICE]
    values = [re.sub(r"[^\d.]", "", part) for part in str(pricing).split("$")[1:]]
    prices = [float(v) for v in values if v]
    return prices[:2] or [DEFAULT_PRICE]


def price_tag(pricing: list[float]) -> str:
    """Return the displayed price, e.g. ``$12.99`` or ``$10.0 to $20.0``."""
    return f"${pricing[0]}" if len(pricing) == 1 else f"${pricing[0]} to ${pricing[1]}"


def _options(item: dict[str, Any]) -> dict[str, list[str]]:
    if isinstance(item.get("options"), dict):
        return {str(k): [str(v) for v in vs] for k, vs in item["options"].items()}
    options: dict[str, list[str]] = {}
    for name, contents in (item.get("customization_options") or {}).items():
        if contents:
            options[name.lower()] = [c["value"].strip().replace("/", " | ").lower() for c in contents]
    return options


def normalize_product(item: dict[str, Any], attrs: dict[str, Any]) -> dict[str, Any]:
    """Return WebShop's processed product dict for a raw or processed item."""
    pricing = parse_pricing(item.get("pricing"))
    bullets = item.get("BulletPoints", item.get("small_description", []))
    images = item.get("images") or [""]
    return {
        "asin": str(item["asin"]),
        "name": item.get("name", item.get("Title", "")),
        "Title": item.get("Title", item.get("name", "")),
        "Description": item.get("Description", item.get("full_description", "")) or "",
        "BulletPoints": bullets if isinstance(bullets, list) else [bullets],
        "pricing": pricing,
        "Price": price_tag(pricing),
        "options": _options(item),
        "Attributes": attrs["attributes"] if "attributes" in attrs else item.get("Attributes") or ["DUMMY_ATTR"],
        "Reviews": item.get("Reviews", []),
        "Rating": item.get("Rating", "N.A."),
        "category": item.get("category", ""),
        "query": str(item.get("query", "")).lower().strip(),
        "product_category": item.get("product_category", ""),
        "MainImage": item.get("MainImage", images[0]),
        "instruction_text": attrs.get("instruction"),
        "instruction_attributes": attrs.get("instruction_attributes"),
    }
