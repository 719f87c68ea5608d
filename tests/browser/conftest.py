"""Browser tests: the real app served by uvicorn (a subprocess on a free 127.0.0.1 port,
over a temporary SHOPCRM_HOME holding a small imported shop) driven by Playwright
through Debian's Chromium. Screenshots go to ``test-artifacts/browser/``.

Without ``/usr/bin/chromium`` (``apt-get install -y chromium fonts-wqy-microhei``) the
tests are skipped with that reason — except in CI (``CI`` set), where that is a failure.
Playwright's own browser download (``playwright install``) is never used."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "browser"
FIXTURES = ROOT / "tests" / "fixtures"
PASSWORD = "correct horse battery"


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"browser tests cannot run in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def playwright_api() -> Iterator[Any]:
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} is missing: apt-get install -y chromium fonts-wqy-microhei")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed")
    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="session")
def browser(playwright_api: Any) -> Iterator[Any]:
    browser = playwright_api.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                             args=CHROMIUM_ARGS)
    yield browser
    browser.close()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _prepare_shop(home: Path) -> None:
    """Import the fixture exports and create an admin and an agent, as an operator would."""
    from shopcrm.accounts.service import create_user
    from shopcrm.context import build_context
    from shopcrm.ingest.service import import_file
    from shopcrm.settings import Settings

    context = build_context(Settings(home=home))
    try:
        import_file(context, "taobao-orders", FIXTURES / "taobao_orders_gbk.csv")
        import_file(context, "shopify-customers", FIXTURES / "shopify_customers.csv")
        from shopcrm.segments.service import compute_features

        compute_features(context)  # features and tags, for the segment builder
        with context.sessions.begin() as session:
            for username in ("admin", "agent"):
                create_user(session, username=username, password=PASSWORD, role=username,
                            now=context.clock.now())
    finally:
        context.close()


@pytest.fixture(scope="session")
def live_server(playwright_api: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL of the app, served by uvicorn in a subprocess."""
    home = tmp_path_factory.mktemp("browser") / "home"
    _prepare_shop(home)
    shutil.rmtree(ARTIFACTS, ignore_errors=True)  # only this run's screenshots
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log = open(ARTIFACTS / "server.log", "wb")  # noqa: SIM115 - closed at teardown
    env = {**os.environ, "SHOPCRM_HOME": str(home)}
    env.pop("SHOPCRM_DATABASE_URL", None)
    process: subprocess.Popen[bytes] | None = None
    base = ""
    for _attempt in range(3):
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", "shopcrm.api.app:create_app",
             "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
            env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        if _wait_until_up(base, process):
            break
        process.terminate()
        process.wait(timeout=10)
        process = None
    if process is None:
        log.close()
        pytest.fail(f"the app did not start; see {ARTIFACTS / 'server.log'}")
    yield base
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
    log.close()


def _wait_until_up(base: str, process: subprocess.Popen[bytes], timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(f"{base}/health", timeout=2) as response:
                if response.status == 200:
                    return True
        except OSError:
            time.sleep(0.2)
    return False


@dataclass
class Visit:
    """One browser context (cookies, language, screen size) with its page, collecting
    every script error and Content-Security-Policy violation the pages raise."""

    page: Any
    base: str
    problems: list[str] = field(default_factory=list)
    tolerate: tuple[str, ...] = ()
    """Parts of problem messages a test expects (a page it is refused)."""

    def go(self, path: str) -> Any:
        return self.page.goto(self.base + path)

    def sign_in(self, username: str) -> None:
        self.go("/login")
        self.page.fill("input[name=username]", username)
        self.page.fill("input[name=password]", PASSWORD)
        with self.page.expect_navigation():
            self.page.click("form.login button[type=submit]")

    def shot(self, name: str, *, full_page: bool = True) -> Path:
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=full_page)
        return path


@pytest.fixture
def visit(browser: Any, live_server: str) -> Iterator[Callable[..., Visit]]:
    contexts: list[Any] = []
    visits: list[Visit] = []

    def open_visit(*, locale: str = "zh-CN", width: int = 1280, height: int = 900,
                   mobile: bool = False) -> Visit:
        context = browser.new_context(locale=locale, viewport={"width": width,
                                                               "height": height},
                                      is_mobile=mobile, has_touch=mobile,
                                      device_scale_factor=2 if mobile else 1)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15_000)
        current = Visit(page, live_server)
        page.on("console", lambda m: current.problems.append(f"console: {m.text}")
                if m.type == "error" else None)
        page.on("pageerror", lambda e: current.problems.append(f"error: {e}"))
        page.on("response", lambda r: current.problems.append(f"HTTP {r.status} {r.url}")
                if r.status >= 400 else None)
        page.add_init_script(
            "document.addEventListener('securitypolicyviolation', e => "
            "console.error('CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI));")
        visits.append(current)
        return current

    yield open_visit
    for context in contexts:
        context.close()
    problems = [p for v in visits for p in v.problems
                if not any(part in p for part in v.tolerate)]
    assert problems == [], problems
