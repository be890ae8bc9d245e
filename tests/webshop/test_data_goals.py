from __future__ import annotations

import hashlib
import json
import os
import random
import subprocess
import sys

import pytest

from anchorgym.envs.webshop import data, goals
from anchorgym.errors import DataNotFoundError

GOALS_DIGEST_SCRIPT = """
import hashlib, json, sys
from anchorgym.envs.webshop import data, goals
built, _ = goals.build_goals(data.load(sys.argv[1]).products)
print(hashlib.sha256(json.dumps(built, sort_keys=True).encode()).hexdigest())
"""


def _digest(built):
    return hashlib.sha256(json.dumps(built, sort_keys=True).encode()).hexdigest()


def test_catalogue_and_goal_counts(engine):
    assert len(engine.data.products) == 1000
    assert len(engine.goals) == 6910
    assert sum(1 for p in engine.data.products if p["instruction_text"]) == 415
    assert len(goals.split_indices(len(engine.goals), "test")) == 500
    assert len(goals.split_indices(len(engine.goals), "train")) == 6410


def test_first_goal_is_fixed(engine):
    first = engine.goals[0]
    assert first["asin"] == "B0743JKHBV"
    assert first["instruction_text"] == (
        'Find me double sided, machine washable decorative pillows with printing technology with size: 28" x 28", '
        "and price lower than 50.00 dollars"
    )
    assert first["goal_options"] == {"size": '28" x 28"'}
    assert first["price_upper"] == 50.0


def test_goals_identical_in_another_process(engine, webshop_dir):
    env = dict(os.environ, PYTHONHASHSEED="12345")
    out = subprocess.run(
        [sys.executable, "-c", GOALS_DIGEST_SCRIPT, str(webshop_dir)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    assert out.stdout.strip() == _digest(engine.goals)


def test_goals_one_per_option_combination_with_weights():
    product = {
        "asin": "A1", "Title": "Cotton Shirt", "category": "fashion", "query": "shirts", "product_category": "x",
        "instruction_text": "Find me cotton shirts", "instruction_attributes": ["cotton", "soft"],
        "options": {"size": ["s", "m"], "color": ["red", "blue", "green"]},
    }  # fmt: skip
    other = dict(product, asin="A2", options={}, instruction_attributes=["cotton"])
    built = goals.synthetic_goals([product, other], {"A1": 12.5, "A2": 1000.0}, random.Random(0))
    assert len(built) == 7
    assert built[0]["instruction_text"].startswith(
        "Find me cotton shirts with color: red, and size: s, and price lower than"
    )
    assert built[0]["price_upper"] in (30.0, 40.0, 50.0)  # the larger of two of 20, 30, 40, 50
    assert built[6]["instruction_text"] == "Find me cotton shirts" and built[6]["price_upper"] == goals.NO_PRICE_LIMIT
    # "cotton" appears in 7 goals, "soft" in 6: weight = mean of inverse counts
    assert built[0]["weight"] == pytest.approx((1 / 7 + 1 / 6) / 2)
    assert built[6]["weight"] == pytest.approx(1 / 7)


def test_price_bound_uses_the_four_multiples_of_ten_above():
    rng = random.Random(1)
    for _ in range(50):
        upper, text = goals.price_bound(23.0, rng)
        assert upper in (40.0, 50.0, 60.0) and text == f", and price lower than {upper:.2f} dollars"
    assert goals.price_bound(985.0, rng) == (goals.NO_PRICE_LIMIT, "")


def test_install_and_original_file_names(tmp_path, webshop_dir):
    target = data.install(webshop_dir, tmp_path / "cache")
    assert sorted(p.name for p in target.iterdir()) == [
        "human_goals.json",
        "items_ins_v2_1000.json",
        "products_1k.json",
    ]
    raw = tmp_path / "orig"
    raw.mkdir()
    item = {
        "asin": "B000000001", "name": "Blue Mug", "full_description": "A mug.", "small_description": "Holds tea",
        "pricing": "$4.50 - $9.00", "images": ["img"], "category": "garden", "query": " Mugs ",
        "product_category": "Home › Kitchen", "customization_options": {"Color": [{"value": "Dark/Blue"}]},
    }  # fmt: skip
    (raw / "items_shuffle_1000.json").write_text(json.dumps([item, item, dict(item, asin="nan")]))
    (raw / "items_ins_v2_1000.json").write_text(json.dumps({"B000000001": {"attributes": ["ceramic"]}}))
    loaded = data.load(raw)
    assert len(loaded.products) == 1
    product = loaded.products[0]
    assert product["Title"] == "Blue Mug" and product["BulletPoints"] == ["Holds tea"]
    assert product["pricing"] == [4.5, 9.0] and product["Price"] == "$4.5 to $9.0"
    assert product["options"] == {"color": ["dark | blue"]} and product["query"] == "mugs"
    assert product["Attributes"] == ["ceramic"] and product["instruction_text"] is None


def test_missing_data_names_the_fix(tmp_path):
    with pytest.raises(DataNotFoundError, match=r"anchorgym data webshop --from PATH, or set WEBSHOP_DATA"):
        data.locate(tmp_path)
    with pytest.raises(DataNotFoundError, match="is not a WebShop data folder"):
        data.install(tmp_path)


def test_data_folder_precedence(tmp_path, webshop_dir, monkeypatch):
    # --data-dir / data_dir beats $WEBSHOP_DATA, which beats the user cache, which beats the shared folder
    env_dir, arg_dir = data.install(webshop_dir, tmp_path / "env"), data.install(webshop_dir, tmp_path / "arg")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("ANCHORGYM_CACHE_DIR", raising=False)
    monkeypatch.setenv("ANCHORGYM_SHARED_DATA", str(tmp_path / "no-shared"))
    monkeypatch.delenv("WEBSHOP_DATA", raising=False)
    with pytest.raises(DataNotFoundError):
        data.locate()
    cached = data.install(webshop_dir)
    assert cached == tmp_path / "xdg" / "anchorgym" / "webshop" and data.locate() == cached
    monkeypatch.setenv("WEBSHOP_DATA", str(env_dir))
    assert data.locate() == env_dir
    assert data.locate(arg_dir) == arg_dir
    with pytest.raises(DataNotFoundError, match=f"looked in {tmp_path / 'empty'} for"):
        data.locate(tmp_path / "empty")  # an explicit folder is not silently replaced by another
