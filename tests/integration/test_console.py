"""The operator console in a real browser: headless Chromium driven by Selenium against a
whole gateway node (real RabbitMQ, SQLite store, push recipient) over loopback.

Operators are created with the real command line (``edoc-gateway operators add
--password-stdin --config FILE``). Each page visited is saved to ``docs/console/``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select, WebDriverWait

from adapters.ops.app import CHECKER as OPS_CHECKER
from gateway import appkeys
from gateway.audit import chain as audit
from gateway.core.hops import record_path
from gateway.core.views import Hop
from gateway.store import repository as repo
from tests.integration.console_env import (
    PASSWORDS,
    ConsoleNode,
    chromium,
    console_node,
    screenshot,
)
from tests.world import H14, H41, document

pytestmark = pytest.mark.integration
WAIT = 30


@pytest.fixture(scope="module")
def node(rabbitmq: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleNode]:
    """One node for the module: three operators, a document to H41, one to H14 (parked)."""
    with console_node(tmp_path_factory.mktemp("console"), rabbitmq.url(rabbitmq.new_vhost())) as n:
        for name, password in PASSWORDS.items():
            done = n.cli(
                "operators", "add", name, "--role", name, "--password-stdin",
                "--config", str(n.config), stdin=password + "\n",
            )  # fmt: skip
            assert done.returncode == 0, done.stderr
        for number, to in (("101", (H41,)), ("102", (H14,))):
            receipt = n.run(n.submit(document(number, to=to)))
            n.sent[number] = receipt["message_id"]
        wait_state(n, n.sent["101"], "delivered")
        ack = f"/v1/messages/{n.sent['101']}/ack"  # H41 fetched it: status 01 goes back
        n.run(n.submit(b"", system="SYS-H41", path=ack))
        yield n


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    """One headless Chromium for the module (cookies cleared by each login)."""
    driver = chromium()
    try:
        yield driver
    finally:
        driver.quit()


def login(driver: WebDriver, node: ConsoleNode, name: str, *, shot: str | None = None) -> None:
    """Log in through the form as ``name`` (after logging out whoever was in)."""
    driver.get(node.url + "/console/login")
    driver.delete_all_cookies()
    driver.get(node.url + "/console/login")
    WebDriverWait(driver, WAIT).until(ec.presence_of_element_located((By.ID, "name")))
    driver.find_element(By.ID, "name").send_keys(name)
    driver.find_element(By.ID, "password").send_keys(PASSWORDS[name])
    if shot:
        screenshot(driver, shot)
    click_through(driver, driver.find_element(By.ID, "login"))
    WebDriverWait(driver, WAIT).until(ec.presence_of_element_located((By.ID, "operator")))


def click_through(driver: WebDriver, element: Any) -> None:
    """Click a link or submit button and wait until the next page has replaced this one
    (a click may return before the navigation it starts)."""
    page = driver.find_element(By.TAG_NAME, "html")
    element.click()

    def replaced(_driver: WebDriver) -> bool:
        try:
            page.is_enabled()
        except WebDriverException:  # stale, or "does not belong to the document"
            return True
        return False

    WebDriverWait(driver, WAIT).until(replaced)
    WebDriverWait(driver, WAIT).until(
        lambda d: d.execute_script("return document.readyState") == "complete"
    )


def post(driver: WebDriver, path: str, fields: dict[str, str]) -> tuple[int, str]:
    """POST a form from the page's own origin (the session cookie goes along)."""
    script = """
        const done = arguments[arguments.length - 1];
        fetch(arguments[0], {method: 'POST', body: new URLSearchParams(arguments[1]),
                             credentials: 'same-origin', redirect: 'manual'})
          .then(r => r.text().then(t => done([r.status, t])), e => done([0, String(e)]));
    """
    status, text = driver.execute_async_script(script, path, fields)
    return int(status), str(text)


def csrf_of(driver: WebDriver) -> str:
    """The CSRF token the current page carries in its forms."""
    return str(driver.find_element(By.NAME, "csrf").get_attribute("value"))


def delivery_state(node: ConsoleNode, message_id: str) -> str:
    """The state of the (single) delivery of a message, read from the store."""

    async def read() -> str:
        async with node.app[appkeys.ENGINE].connect() as conn:
            rows = await repo.deliveries_for(conn, message_id)
        return rows[0].state

    return node.run(read())


def wait_state(node: ConsoleNode, message_id: str, state: str) -> None:
    """Wait until the message's delivery reaches ``state``."""
    deadline = time.monotonic() + WAIT
    while delivery_state(node, message_id) != state:
        assert time.monotonic() < deadline, f"{message_id} never reached {state}"
        time.sleep(0.2)


def audit_events(node: ConsoleNode) -> list[audit.Entry]:
    """Every audit record of the node."""

    async def read() -> list[audit.Entry]:
        async with node.app[appkeys.ENGINE].connect() as conn:
            return await audit.entries(conn)

    return node.run(read())


def test_login_and_overview(node: ConsoleNode, browser: WebDriver) -> None:
    login(browser, node, "admin", shot="login")
    assert browser.current_url.endswith("/console/")
    assert "Tổng quan" in browser.page_source  # Vietnamese by default
    assert int(browser.find_element(By.CSS_SELECTOR, "#docs-in b").text) >= 2
    assert browser.find_element(By.CSS_SELECTOR, "svg.chart rect.bar-in")
    assert browser.find_element(By.ID, "readiness").text
    screenshot(browser, "overview")
    logins = [e for e in audit_events(node) if e.event == "console.login"]
    assert logins[-1].actor == "console:admin" and logins[-1].outcome == "ok"


def test_find_a_document_by_its_document_id_and_open_its_trace(
    node: ConsoleNode, browser: WebDriver
) -> None:
    login(browser, node, "auditor")
    message_id = node.sent["101"]
    document_id = node.run(_document_id(node, message_id))
    relayed = Hop("000.00.00.A00", "2026-01-05T01:00:00+00:00", "2026-01-05T01:00:01+00:00")
    node.run(
        record_path(node.app[appkeys.ENGINE], message_id, [relayed], reported_by="SYS-A", via="vxp")
    )
    browser.get(node.url + "/console/documents")
    browser.find_element(By.ID, "q").send_keys(document_id)
    click_through(browser, browser.find_element(By.ID, "search"))
    links = browser.find_elements(By.CSS_SELECTOR, "#results a.doc-link")
    assert [a.text for a in links] == [document_id], (browser.current_url, _main(browser))
    screenshot(browser, "documents")
    click_through(browser, links[0])
    assert browser.current_url.endswith(f"/console/documents/{message_id}"), _main(browser)
    assert browser.find_element(By.ID, "document-id").text == document_id
    deliveries = browser.find_element(By.ID, "deliveries").text
    assert H41 in deliveries and "acked" in deliveries, deliveries  # who read it, and when
    statuses = WebDriverWait(browser, WAIT).until(lambda d: _statuses(d, node, message_id))
    assert "01" in statuses
    assert "Văn bản thử nghiệm số 101" in browser.page_source  # subject from the packet
    hops = browser.find_element(By.ID, "hops").text
    assert "000.00.00.A00" in hops and "do hệ thống báo SYS-A (vxp)" in hops, hops
    records = browser.find_element(By.ID, "audit-records").text
    assert "received" in records or "accepted" in records, records
    screenshot(browser, "document")


def _main(driver: WebDriver) -> str:
    """The text of the page's main part (for assertion messages)."""
    return str(driver.find_element(By.TAG_NAME, "main").text)[:2000]


def _statuses(driver: WebDriver, node: ConsoleNode, message_id: str) -> str | None:
    """The status history table once status 01 is in it (reloading until then)."""
    text = driver.find_element(By.ID, "statuses").text
    if "01" in text:
        return str(text)
    driver.get(node.url + f"/console/documents/{message_id}")
    return None


async def _document_id(node: ConsoleNode, message_id: str) -> str:
    async with node.app[appkeys.ENGINE].connect() as conn:
        message = await repo.get_message(conn, message_id)
    assert message is not None
    return message.document_id


def test_operator_replays_a_parked_delivery(node: ConsoleNode, browser: WebDriver) -> None:
    parked_id = node.sent["102"]
    wait_state(node, parked_id, "parked")
    login(browser, node, "operator")
    browser.get(node.url + "/console/parked")
    rows = browser.find_elements(By.CSS_SELECTOR, "#parked-list tr[id^=parked-]")
    assert len(rows) == 1 and "404" in rows[0].text
    screenshot(browser, "parked")
    browser.get(node.url + "/console/")  # the overview raised an alert: someone takes it
    alert = browser.find_element(By.ID, "alert-parked")
    click_through(browser, alert.find_element(By.CSS_SELECTOR, "button.ack-button"))
    assert "console:operator" in browser.find_element(By.ID, "alert-parked").text
    screenshot(browser, "overview-alert")
    browser.get(node.url + "/console/parked")
    rows = browser.find_elements(By.CSS_SELECTOR, "#parked-list tr[id^=parked-]")
    node.recipient.accept = True  # the recipient's mailbox exists now
    click_through(browser, rows[0].find_element(By.CSS_SELECTOR, "button.replay"))
    WebDriverWait(browser, WAIT).until(ec.presence_of_element_located((By.ID, "confirm")))
    screenshot(browser, "replay-confirm")
    click_through(browser, browser.find_element(By.ID, "confirm"))
    notice = WebDriverWait(browser, WAIT).until(ec.presence_of_element_located((By.ID, "replayed")))
    assert notice.text.endswith(": 1")
    wait_state(node, parked_id, "delivered")
    assert node.recipient.received == 1
    replays = [e for e in audit_events(node) if e.event == "deliveries.replayed"]
    assert replays[-1].actor == "console:operator" and replays[-1].detail["count"] == 1


def test_auditor_sees_no_replay_button_and_is_refused_when_posting(
    node: ConsoleNode, browser: WebDriver
) -> None:
    login(browser, node, "auditor")
    browser.get(node.url + "/console/parked")
    assert browser.find_elements(By.CSS_SELECTOR, "button.replay, #replay-all") == []
    status, body = post(
        browser,
        "/console/parked/replay",
        {"csrf": csrf_of(browser), "id": "all", "confirm": "yes"},
    )
    assert status == 403 and "CONSOLE_FORBIDDEN" in body
    status, body = post(browser, "/console/alerts/ack", {"csrf": csrf_of(browser), "key": "x"})
    assert status == 403 and "CONSOLE_FORBIDDEN" in body
    refused = [e for e in audit_events(node) if e.event == "console.refused"]
    assert refused[-1].actor == "console:auditor"
    assert refused[-1].outcome == "CONSOLE_FORBIDDEN"


def test_a_post_without_the_csrf_token_is_refused(node: ConsoleNode, browser: WebDriver) -> None:
    login(browser, node, "operator")
    status, body = post(browser, "/console/maintenance", {"on": "1", "reason": "x"})
    assert status == 403 and "CONSOLE_CSRF" in body
    assert "Biểu mẫu không hợp lệ" in body and "anti-forgery" in body
    refused = [e for e in audit_events(node) if e.event == "console.refused"]
    assert refused[-1].outcome == "CONSOLE_CSRF" and refused[-1].actor == "console:operator"
    status, _ = post(browser, "/console/maintenance", {"on": "1", "csrf": "forged"})
    assert status == 403
    # The same through the page's own form, its token tampered with: the refusal page.
    browser.get(node.url + "/console/")
    form = "form[action='/console/maintenance']"
    browser.execute_script(
        "document.querySelector(arguments[0] + ' input[name=csrf]').value = 'forged'", form
    )
    click_through(browser, browser.find_element(By.CSS_SELECTOR, form + " button"))
    refusal = WebDriverWait(browser, WAIT).until(ec.presence_of_element_located((By.ID, "refusal")))
    assert "CONSOLE_CSRF" in refusal.text
    screenshot(browser, "refused")
    assert not node.app[OPS_CHECKER].maintenance.active  # nothing was switched


def test_admin_pages_directory_audit_report_systems(
    node: ConsoleNode, browser: WebDriver, tmp_path: Path
) -> None:
    login(browser, node, "admin")
    browser.get(node.url + "/console/directory?q=son%20la")  # accents optional
    codes = [a.text for a in browser.find_elements(By.CSS_SELECTOR, "#agencies td:first-child a")]
    assert codes == [H14]
    screenshot(browser, "directory")
    browser.get(node.url + f"/console/directory/{H41}")
    browser.find_element(By.CSS_SELECTOR, "#endpoint-form input[name=url]").send_keys(
        "http://127.0.0.1:9/none"
    )
    Select(browser.find_element(By.CSS_SELECTOR, "#endpoint-form select")).select_by_value("push")
    click_through(browser, browser.find_element(By.CSS_SELECTOR, "#endpoint-form button"))
    WebDriverWait(browser, WAIT).until(ec.presence_of_element_located((By.ID, "saved")))
    assert "push" in browser.find_element(By.ID, "endpoint").text
    assert "console:admin" in browser.find_element(By.ID, "history").text
    screenshot(browser, "agency")

    csv_file = tmp_path / "agencies.csv"
    csv_file.write_text(
        "code,name\n000.00.00.H99,Sở Thông tin và Truyền thông tỉnh Thử\n", encoding="utf-8"
    )
    browser.get(node.url + "/console/directory/import")
    browser.find_element(By.CSS_SELECTOR, "input[type=file]").send_keys(str(csv_file))
    click_through(browser, browser.find_element(By.ID, "preview"))
    WebDriverWait(browser, WAIT).until(ec.presence_of_element_located((By.ID, "diff")))
    assert browser.find_element(By.CSS_SELECTOR, "#n-added b").text == "1"
    screenshot(browser, "import-preview")
    click_through(browser, browser.find_element(By.ID, "apply"))
    deadline = time.monotonic() + WAIT
    while True:  # running directories pick the change up within about a second
        browser.get(node.url + "/console/directory?q=000.00.00.H99")
        if browser.find_elements(By.CSS_SELECTOR, "#agencies td a"):
            break
        assert time.monotonic() < deadline
        time.sleep(0.5)

    browser.get(node.url + "/console/audit?caller=console:")
    assert "console.login" in browser.find_element(By.ID, "audit-rows").text
    click_through(browser, browser.find_element(By.ID, "verify"))
    verdict = WebDriverWait(browser, WAIT).until(ec.presence_of_element_located((By.ID, "verdict")))
    assert "toàn vẹn" in verdict.text
    screenshot(browser, "audit")

    browser.get(node.url + "/console/operators")
    assert "operator" in browser.find_element(By.ID, "operators").text
    screenshot(browser, "operators")

    browser.get(node.url + "/console/reports/activity")
    assert "000.00.00.G22" in browser.find_element(By.ID, "report").text
    screenshot(browser, "report")

    browser.get(node.url + "/console/systems")
    browser.find_element(By.CSS_SELECTOR, "#add-system input[name=id]").send_keys("SYS-TEST")
    browser.find_element(By.CSS_SELECTOR, "#add-system input[name=agencies]").send_keys(H14)
    click_through(browser, browser.find_element(By.CSS_SELECTOR, "#add-system button"))
    secret = WebDriverWait(browser, WAIT).until(ec.presence_of_element_located((By.ID, "secret")))
    shown = secret.text
    assert len(shown) >= 20
    assert "SYS-TEST" in browser.find_element(By.ID, "systems").text
    screenshot(browser, "systems")
    browser.get(node.url + "/console/systems")
    assert "SYS-TEST" in browser.page_source and shown not in browser.page_source  # shown once
    node.wait_status("/v1/inbox", "SYS-TEST", shown, 200)  # the new system may call now
    disable = "form[action='/console/systems/SYS-TEST/disable'] button"
    click_through(browser, browser.find_element(By.CSS_SELECTOR, disable))
    node.wait_status("/v1/inbox", "SYS-TEST", shown, 401)  # and no longer once disabled
    systems = [e for e in audit_events(node) if e.event.startswith("system.")]
    done = {(e.event, e.actor) for e in systems}
    assert {("system.add", "console:admin"), ("system.disable", "console:admin")} <= done


def test_english_is_one_click_away(node: ConsoleNode, browser: WebDriver) -> None:
    login(browser, node, "auditor")
    click_through(browser, browser.find_element(By.LINK_TEXT, "English"))
    assert "Documents" in browser.find_element(By.CSS_SELECTOR, "header nav").text
    browser.get(node.url + "/console/parked")
    assert "Parked deliveries" in browser.page_source
    browser.get(node.url + "/console/")
    assert "Documents per hour" in browser.page_source
    screenshot(browser, "overview-en")
    click_through(browser, browser.find_element(By.LINK_TEXT, "Tiếng Việt"))
    assert "Tổng quan" in browser.page_source
