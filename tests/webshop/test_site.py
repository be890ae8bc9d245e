"""The real Flask site over HTTP on 127.0.0.1, and the CLI."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys

import httpx
import pytest

from anchorgym.cli import main
from anchorgym.envs.webshop.html_text import read_page
from anchorgym.envs.webshop.site import SiteServer


@pytest.fixture(scope="module")
def site(engine):
    server = SiteServer(engine)
    with httpx.Client(base_url=server.url, timeout=20) as client:
        yield client
    server.close()


def test_pages_over_http(site, engine):
    goal = engine.goals[2]
    search = site.get("/s1?goal=2")
    assert search.status_code == 200
    assert (
        read_page(search.text).observation
        == f"WebShop [SEP] Instruction: [SEP] {goal['instruction_text']} [SEP] Search"
    )
    results = site.get("/s1/search", params={"q": "shorts", "page": 2})
    assert "Page 2 (Total results: 50) [SEP] < Prev [SEP] Next >" in read_page(results.text).observation
    asin = engine.results("shorts")[10]
    link = re.search(rf'href="(/s1/item/{asin}\?[^"]+)"', results.text).group(1).replace("&amp;", "&")
    item = site.get(link)
    assert read_page(item.text).clickables[:2] == ("back to search", "< prev")
    assert site.get("/static/style.css").status_code == 200


def test_buy_shows_score_and_session_keeps_goal(site, engine):
    goal = engine.goals[0]
    site.get("/s2?goal=0")
    options = '{"size": "28\\" x 28\\""}'
    done = site.post(f"/s2/buy/{goal['asin']}", params={"q": "pillow", "page": 1, "options": options})
    page = read_page(done.text)
    assert done.status_code == 200
    assert page.observation.startswith("Thank you for shopping with us! [SEP] Your code: [SEP] None [SEP] ")
    assert page.observation.endswith("[SEP] Your score (min 0.0, max 1.0) [SEP] 1.0 [SEP] Reward Details [SEP] None")
    wrong = site.post(f"/s2/buy/{goal['asin']}", params={"q": "pillow", "page": 1, "options": "{}"})
    assert "[SEP] 0.8 [SEP]" in read_page(wrong.text).observation  # 3 attributes + price of 5 points, r_type 1


def test_unknown_pages_are_404(site, engine):
    asin = engine.goals[0]["asin"]
    assert site.get("/s3/item/NOTANASIN").status_code == 404
    assert site.get("/s3/search", params={"q": "shorts", "page": 9}).status_code == 200  # WebShop: an empty page
    assert site.get("/s3/search", params={"q": "shorts", "page": 0}).status_code == 404
    assert site.get("/s3/search", params={"q": "shorts", "page": 10**6 + 1}).status_code == 404
    assert site.get(f"/s3/item/{asin}/Bogus").status_code == 404
    assert site.get(f"/s3/item/{asin}", params={"options": '{"size": "bogus"}'}).status_code == 404
    assert site.get(f"/s3/item/{asin}", params={"options": '{"colour": "red"}'}).status_code == 404
    assert site.get(f"/s3/item/{asin}", params={"page": 0}).status_code == 404
    assert site.get("/", follow_redirects=False).status_code == 302


@pytest.mark.parametrize("params", [{"page": "two"}, {"options": "not json"}, {"options": "[1]"}])
def test_malformed_urls_are_400(site, engine, params):
    assert site.get(f"/s4/item/{engine.goals[0]['asin']}", params=params).status_code == 400


def test_done_page_reloads_with_get(site, engine):
    goal = engine.goals[0]
    site.get("/s5?goal=0")
    done = site.get(f"/s5/buy/{goal['asin']}", params={"q": "pillow", "options": json.dumps(goal["goal_options"])})
    assert done.status_code == 200
    assert "[SEP] Your score (min 0.0, max 1.0) [SEP] 1.0 [SEP]" in read_page(done.text).observation


@pytest.mark.slow
def test_cli_serve_end_to_end(webshop_dir):
    command = [sys.executable, "-m", "anchorgym.cli", "webshop", "serve", "--port", "0", "--data-dir", str(webshop_dir)]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout.readline() == f"WebShop: 6910 goals over 1000 products from {webshop_dir}\n"
        url = re.fullmatch(r"Serving on (http://127\.0\.0\.1:\d+)/ \(Ctrl-C to stop\)\n", server.stdout.readline())[1]
        with httpx.Client(base_url=url, timeout=20, follow_redirects=True) as client:
            start = client.get("/")
            assert start.status_code == 200 and read_page(start.text).observation.endswith(" [SEP] Search")
            item = client.get(f"{start.url.path}/item/B0743JKHBV")
            assert "attributes" in read_page(item.text).clickables  # the site shows it unless --hide-attributes
    finally:
        server.terminate()
        server.wait(timeout=20)


def test_cli_rejects_bad_port(capsys):
    assert main(["webshop", "serve", "--port", "70000"]) == 2
    assert capsys.readouterr().err.strip() == "error: --port must be 0-65535, got 70000."
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["webshop", "serve", "--port", str(port)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"error: Cannot serve on 127.0.0.1:{port} (Address already in use). "
        "Pass another --port, or --port 0 for a free one."
    )


def test_cli_data_install(tmp_path, webshop_dir, capsys):
    assert main(["data", "webshop", "--from", str(webshop_dir), "--data-dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out.strip() == f"Installed webshop data into {tmp_path}"
    assert (tmp_path / "products_1k.json").read_bytes() == (webshop_dir / "products_1k.json").read_bytes()
    assert main(["data", "webshop", "--from", str(tmp_path / "nowhere")]) == 2
    assert "is not a WebShop data folder" in capsys.readouterr().err
    assert main(["data", "webshop"]) == 2
    assert capsys.readouterr().err.startswith("error: anchorgym data webshop needs --from PATH: a folder with")


def test_dataset_hashes(env):
    hashes = env.dataset_hashes()
    assert sorted(hashes) == ["items_ins_v2_1000.json", "products_1k.json"]
    assert all(len(h) == 64 for h in hashes.values())
