"""The browser front end: plays episodes through the real site in headless Chromium.

It starts the site on a free 127.0.0.1 port, drives Debian's Chromium with
Selenium (driver at ``$CHROMEDRIVER``, default ``/usr/bin/chromedriver``;
``SE_OFFLINE=true`` so Selenium Manager never goes online), types searches into
the search box and clicks buttons, product links and option radios. The env reads the page Chromium
serialises, the page state from the URL and the score from the done page.
"""

from __future__ import annotations

import os
import shutil
import uuid
from typing import Any

from anchorgym.envs.webshop.engine import WebShopEngine
from anchorgym.envs.webshop.html_text import button_name, radio_name
from anchorgym.envs.webshop.site import SiteServer
from anchorgym.envs.webshop.state import DONE, RESULTS, PageState, state_url, url_state
from anchorgym.errors import DependencyError, missing_extra

CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
)
PAGE_TIMEOUT_S = 20


def make_driver() -> Any:
    """Start headless Chromium under Selenium, offline."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError as error:
        raise missing_extra("selenium", "webshop") from error
    driver_path = os.environ.get("CHROMEDRIVER", CHROMEDRIVER)
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    missing = [f"chromedriver at {driver_path}"] if not os.path.exists(driver_path) else []
    missing += ["chromium on PATH"] if browser is None else []
    if missing:
        raise DependencyError(
            f"Browser mode needs Chromium and chromedriver; not found: {', '.join(missing)}. Install them with: "
            "apt-get install -y chromium chromium-driver (or make system-deps), or set CHROMEDRIVER to the driver."
        )
    os.environ["SE_OFFLINE"] = "true"
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    driver.set_page_load_timeout(PAGE_TIMEOUT_S)
    return driver


class BrowserFrontEnd:
    """Plays the site in Chromium; same methods as :class:`~.frontends.TextFrontEnd`.

    Args:
        engine: the shop engine the site serves.
    """

    def __init__(self, engine: WebShopEngine) -> None:
        self.engine = engine
        self.server = SiteServer(engine)
        try:
            self.driver = make_driver()
        except Exception:
            self.server.close()
            raise
        self.goal_index = 0
        self.session = ""

    @property
    def state(self) -> PageState:
        """The page state, read from the browser's URL."""
        return url_state(self.driver.current_url)

    @property
    def score(self) -> float | None:
        """The score shown on the done page, else None."""
        if self.state.kind != DONE:
            return None
        from selenium.webdriver.common.by import By

        return float(self.driver.find_element(By.ID, "score").text)

    def start(self, goal_index: int) -> None:
        """Open a new session's search page for goal ``goal_index``."""
        self.goal_index, self.session = goal_index, uuid.uuid4().hex[:12]
        self.driver.get(f"{self.server.url}/{self.session}?goal={goal_index}")

    def html(self) -> str:
        """Return the page as Chromium serialises it."""
        return self.driver.page_source

    def search(self, query: str) -> None:
        """Type ``query`` into the search box and submit (no box on the page: open the results, as WebShop allows)."""
        from selenium.webdriver.common.by import By

        boxes = self.driver.find_elements(By.ID, "search_input")
        if not boxes:
            self.driver.get(self.server.url + state_url(self.session, PageState(RESULTS, query, 1)))
            return
        box = boxes[0]
        box.clear()
        box.send_keys(query)
        self._click_and_wait(self.driver.find_element(By.ID, "search_button"))

    def click(self, element: str) -> None:
        """Click the button, product link or option radio named ``element``."""
        from selenium.webdriver.common.by import By

        radios = [
            r
            for r in self.driver.find_elements(By.CSS_SELECTOR, "input[type=radio]")
            if radio_name(r.get_attribute("value"), self.engine.pages) == element
        ]
        links = self.driver.find_elements(By.CSS_SELECTOR, ".btn, .product-link")
        named = [e for e in links if button_name(e.get_attribute("textContent"), self.engine.pages) == element]
        targets = radios[-1:] or named[:1]
        if not targets:
            raise RuntimeError(f"The page in Chromium has no clickable {element!r}, unlike the text the env read.")
        self._click_and_wait(targets[0])

    def _click_and_wait(self, element: Any) -> None:
        from selenium.webdriver.support import expected_conditions
        from selenium.webdriver.support.ui import WebDriverWait

        page = self.driver.find_element("tag name", "html")
        element.click()
        # Chromium answers a query on the old page's node during navigation with either a stale-element
        # error (which staleness_of expects) or "Node ... does not belong to the document" (a plain
        # WebDriverException): both mean the old page is gone.
        wait = WebDriverWait(self.driver, PAGE_TIMEOUT_S, ignored_exceptions=())
        wait.until(lambda _driver: _page_is_gone(page, expected_conditions))
        WebDriverWait(self.driver, PAGE_TIMEOUT_S).until(
            lambda d: d.execute_script("return document.readyState") == "complete"
        )

    def close(self) -> None:
        """Quit Chromium and stop the site."""
        try:
            self.driver.quit()
        finally:
            self.server.close()


def _page_is_gone(page: Any, expected_conditions: Any) -> bool:
    """Whether the ``html`` element ``page`` left the document (see ``_click_and_wait``)."""
    from selenium.common.exceptions import WebDriverException

    try:
        return bool(expected_conditions.staleness_of(page)(None))
    except WebDriverException:
        return True
