"""The leaderboard in real headless Chromium: the trust tiers, the ranked entry, its trajectory viewer."""

from __future__ import annotations

import json

import pytest

from anchorgym.leaderboard.rerun import rerun_entry

from .conftest import BENCHMARK, load_submission, reseal, serve

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def tiered(tmp_path):
    """A leaderboard whose operator re-runs entries: its landing ranking is the re-run verified tier."""
    yield from serve(tmp_path, rerun_tier=True)


def test_leaderboard_pages_in_chromium(tiered, results):
    from selenium.webdriver.common.by import By

    from anchorgym.envs.webshop.browser import make_driver

    server, ids = tiered, {}
    random_score = load_submission(results["random"])[0]["metrics"]["score"]["mean"]
    for policy in ("random", "expert"):
        response = server.submit(*load_submission(results[policy]))
        ids[policy] = response.json()["id"]
        server.wait_for_replay(ids[policy])
    result, text_ = load_submission(results["random"])
    episodes = [dict(json.loads(line), won=True, score=1.0) for line in text_.splitlines()]  # claims every win
    ids["forged"] = server.submit(*reseal(result, episodes)).json()["id"]
    server.wait_for_replay(ids["forged"])
    state = server.app.extensions["anchorgym"]
    assert rerun_entry(state["sessions"], state["storage"], ids["expert"], sample=3, seed=0)[0] == "verified"
    driver = make_driver()
    try:
        driver.get(server.url + "/")
        assert driver.find_element(By.ID, "landing-tier").text.startswith("Ranked by the re-run verified tier")
        driver.find_element(By.LINK_TEXT, BENCHMARK).click()
        tiers = driver.find_elements(By.CSS_SELECTOR, "section.tier")
        assert [t.get_attribute("data-tier") for t in tiers] == ["rerun-verified", "replay-verified"]
        assert [t.find_element(By.TAG_NAME, "h2").text for t in tiers] == ["Ranked: Re-run verified", "Replay verified"]
        rows = driver.find_elements(By.CSS_SELECTOR, "#ranking tr.entry")
        assert [int(row.get_attribute("data-entry-id")) for row in rows] == [ids["expert"]]
        first = rows[0].find_elements(By.TAG_NAME, "td")
        assert first[0].text == "1" and first[1].text == "expert"  # checked by the re-run: no "declared" note
        assert first[2].text == "100.0% (one seed)"  # expert: every puzzle; the spec has one seed
        assert first[4].text == "1 seed"
        assert first[6].text == "re-run verified" and first[7].text == "tester"
        replayed = tiers[1].find_elements(By.CSS_SELECTOR, "tr.entry")
        assert [int(row.get_attribute("data-entry-id")) for row in replayed] == [ids["random"]]
        cells = [td.text for td in replayed[0].find_elements(By.TAG_NAME, "td")]
        assert cells[:2] == ["1", "random (declared by the submitter)"]
        assert cells[3:5] == [f"{random_score:.3f}", "1 seed"] and cells[6] == "replay-verified"
        unverified = driver.find_elements(By.CSS_SELECTOR, "#unverified tr.entry")
        assert [int(row.get_attribute("data-entry-id")) for row in unverified] == [ids["forged"]]
        cells = [td.text for td in unverified[0].find_elements(By.TAG_NAME, "td")]
        assert cells[1:3] == ["100.0% (unverified)", "replay failed"]
        assert cells[3].endswith("the replay ends with won=False, score=0.0, not the recorded outcome")
        rows[0].find_elements(By.TAG_NAME, "td")[1].find_element(By.TAG_NAME, "a").click()
        assert driver.find_element(By.TAG_NAME, "h1").text == f"Entry {ids['expert']}: expert"
        assert driver.find_element(By.ID, "tier").text == "Re-run verified"
        per_type = driver.find_elements(By.CSS_SELECTOR, "#per-type tr")[1].find_elements(By.TAG_NAME, "td")
        assert [td.text for td in per_type] == ["sokoban-6x6-1box", "1.000", "1.000", "8"]
        assert driver.find_element(By.ID, "trajectory-pages").text == "Episodes 1–8 of 8"
        trajectory = driver.find_elements(By.CSS_SELECTOR, "#trajectories details.trajectory")[0]
        trajectory.find_element(By.TAG_NAME, "summary").click()
        steps = trajectory.find_elements(By.CSS_SELECTOR, "tr.step")
        assert steps and steps[0].is_displayed()
        assert steps[-1].find_elements(By.TAG_NAME, "td")[2].text in {"up", "down", "left", "right"}
    finally:
        driver.quit()
