"""The public page in headless Chromium: a FluxAI round trip, then a consultation sent from the page, after
which the conversation is CONSULTATION and linked to its ticket, all under the strict CSP."""
import sqlite3
import uuid

from selenium.webdriver.common.by import By

from helpers import browser, browser_until, csp_violations


def chat_once(driver, url, message="We dry technical textiles, about 20 t/day."):
    """Sends `message` from the page's chat and returns the assistant's finished replies."""
    driver.get(url + "/")
    driver.find_element(By.ID, "chat-input").send_keys(message)
    driver.find_element(By.CSS_SELECTOR, "#chat-form button").click()
    return browser_until(driver, lambda d: [p.text for p in d.find_elements(By.CSS_SELECTOR, "#messages .assistant[data-done]")] or None, 15)


def test_chat_then_consultation_from_the_page(workdir, serve):
    server = serve()
    driver = browser()
    try:
        reply = chat_once(driver, server.url, "We dry technical textiles, about 20 t/day. How much energy could we save?")
        assert "textile" in reply[0] and "%" in reply[0], reply
        session = driver.execute_script("return window.localStorage.getItem('fluxai-session')")
        assert uuid.UUID(session)

        for element_id, value in {"name": "Ada Lovelace", "company": "Analytical Textiles", "email": "ada@example.com",
                                  "message": "Please call <b>me</b>"}.items():
            driver.find_element(By.ID, element_id).send_keys(value)
        driver.find_element(By.CSS_SELECTOR, "#consult-form button").click()
        status = browser_until(driver, lambda d: d.find_element(By.ID, "consult-status").text or None, 15)
        assert "ticket" in status, status
        assert csp_violations(driver) == []
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
