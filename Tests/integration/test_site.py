"""The public page in headless Chromium: a FluxAI round trip, then a consultation sent from the page, after
which the conversation is CONSULTATION and linked to its ticket, all under the strict CSP."""
import sqlite3
import uuid

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait


def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def test_chat_then_consultation_from_the_page(workdir, serve):
    server = serve()
    driver = browser()
    try:
        driver.get(server.url + "/")
        driver.find_element(By.ID, "chat-input").send_keys("We dry technical textiles, about 20 t/day. How much energy could we save?")
        driver.find_element(By.CSS_SELECTOR, "#chat-form button").click()
        reply = WebDriverWait(driver, 15).until(
            lambda d: [p.text for p in d.find_elements(By.CSS_SELECTOR, "#messages .assistant[data-done]")] or None)
        assert "textile" in reply[0] and "%" in reply[0], reply
        session = driver.execute_script("return window.localStorage.getItem('fluxai-session')")
        assert uuid.UUID(session)

        for element_id, value in {"name": "Ada Lovelace", "company": "Analytical Textiles", "email": "ada@example.com",
                                  "message": "Please call <b>me</b>"}.items():
            driver.find_element(By.ID, element_id).send_keys(value)
        driver.find_element(By.CSS_SELECTOR, "#consult-form button").click()
        status = WebDriverWait(driver, 15).until(lambda d: d.find_element(By.ID, "consult-status").text or None)
        assert "ticket" in status, status
        csp_errors = [entry for entry in driver.get_log("browser") if "Content Security Policy" in entry["message"]]
        assert csp_errors == []
    finally:
        driver.quit()

    with sqlite3.connect(workdir / "data" / "flux.sqlite") as db:
        outcome, stage, signal = db.execute(
            'SELECT "outcome", "funnelStage", "signalId" FROM ai_conversations WHERE "sessionId" = ?', (session,)).fetchone()
        ticket_session, message = db.execute("SELECT session_id, message FROM operations_signals").fetchone()
    assert outcome == "CONSULTATION" and stage == "RECOMMEND" and signal is not None
    assert ticket_session == session and message == "Please call <b>me</b>"


REFUSE_STORAGE = """
for (const name of %s) {
  Object.defineProperty(window, name, { configurable: true, get() { throw new DOMException("storage refused", "SecurityError"); } });
}
"""


def chat_once(driver, url):
    driver.get(url + "/")
    driver.find_element(By.ID, "chat-input").send_keys("We dry technical textiles, about 20 t/day.")
    driver.find_element(By.CSS_SELECTOR, "#chat-form button").click()
    return WebDriverWait(driver, 15).until(
        lambda d: [p.text for p in d.find_elements(By.CSS_SELECTOR, "#messages .assistant[data-done]")] or None)


def test_the_session_falls_back_to_session_storage_then_memory(workdir, serve):
    """A browser that refuses localStorage (some private modes) keeps the session in sessionStorage; one that
    refuses both still chats, with the session held in memory."""
    server = serve()
    for refused, kept_in in ((["localStorage"], "sessionStorage"), (["localStorage", "sessionStorage"], None)):
        driver = browser()
        try:
            driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": REFUSE_STORAGE % refused})
            assert "textile" in chat_once(driver, server.url)[0]
            assert driver.execute_script("try { window.localStorage; return false } catch (e) { return true }")
            if kept_in:
                session = driver.execute_script(f"return window.{kept_in}.getItem('fluxai-session')")
                assert uuid.UUID(session)
        finally:
            driver.quit()
        with sqlite3.connect(workdir / "data" / "flux.sqlite") as db:
            sessions = [row[0] for row in db.execute('SELECT "sessionId" FROM ai_conversations')]
        if kept_in:
            assert session in sessions
    # Two browsers, two conversations: the memory fallback made a session of its own.
    assert len(set(sessions)) == 2
