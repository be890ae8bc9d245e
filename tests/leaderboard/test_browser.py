"""The leaderboard in real headless Chromium: find the entry ranked, open its trajectory viewer."""

from __future__ import annotations

import json

import pytest

from .conftest import BENCHMARK, load_submission, reseal

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_leaderboard_pages_in_chromium(server, results):
    from selenium.webdriver.common.by import By

    from anchorgym.envs.webshop.browser import make_driver

    ids = {}
    random_score = load_submission(results["random"])[0]["metrics"]["score"]["mean"]
    for policy in ("random", "expert"):
        response = server.submit(*load_submission(results[policy]))
        ids[policy] = response.json()["id"]
        server.wait_for_replay(ids[policy])
    result, text_ = load_submission(results["random"])
    episodes = [dict(json.loads(line), won=True, score=1.0) for line in text_.splitlines()]  # claims every win
    ids["forged"] = server.submit(*reseal(result, episodes)).json()["id"]
    server.wait_for_replay(ids["forged"])
    driver = make_driver()
    try:
        driver.get(server.url + "/")
        driver.find_element(By.LINK_TEXT, BENCHMARK).click()
        rows = driver.find_elements(By.CSS_SELECTOR, "#ranking tr.entry")
        assert [int(row.get_attribute("data-entry-id")) for row in rows] == [ids["expert"], ids["random"]]
        first = rows[0].find_elements(By.TAG_NAME, "td")
        assert first[0].text == "1" and first[1].text == "expert"
        assert first[2].text == "1.000 (one seed)"  # expert: every puzzle; the spec has one seed
        assert [td.text for td in rows[1].find_elements(By.TAG_NAME, "td")][3:5] == [f"{random_score:.3f}", "0"]
        assert first[6].text == "replay-verified" and first[7].text == "tester"
        unverified = driver.find_elements(By.CSS_SELECTOR, "#unverified tr.entry")
        assert [int(row.get_attribute("data-entry-id")) for row in unverified] == [ids["forged"]]
        cells = [td.text for td in unverified[0].find_elements(By.TAG_NAME, "td")]
        assert cells[1:3] == ["1.000 (unverified)", "replay failed"]
        assert cells[3].endswith("the replay ends with won=False, score=0.0, not the recorded outcome")
        rows[0].find_elements(By.TAG_NAME, "td")[1].find_element(By.TAG_NAME, "a").click()
        assert driver.find_element(By.TAG_NAME, "h1").text == f"Entry {ids['expert']}: expert"
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
