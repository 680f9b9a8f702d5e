"""Messaging and notifications in two headless Chromium browsers, two people of one organization: the owner starts
a direct conversation with a colleague from the messages page, sends a file with the message (uploaded from the
form), and the colleague, told by the badges in the navigation and a notification, opens it; the owner sees it
seen live, then edits and deletes it, and the colleague sees both live; across a server restart both pages say they
are reconnecting and then miss nothing and show nothing twice. Along the way: the server's field errors
beside the fields, a half-written message surviving a reload, the unread-mail setting, every control labelled and
reachable by keyboard, and no sideways scrolling at 375 px."""
import requests
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

from helpers import browser, browser_until, csrf_session, login, problems, register, step, wait_for_mail

PASSWORD = "owner passphrase 2026"
COLLEAGUE_PASSWORD = "colleague passphrase 2026"
CLEAN = ([], 0, None)

# Every form control and button on the page that has no accessible name (label, aria-label or its own text).
UNLABELLED = """
return [...document.querySelectorAll('input, select, textarea, button')].filter((e) => {
  if (e.type === 'hidden' || e.closest('[hidden]')) return false;
  if (e.getAttribute('aria-label') || (e.labels && e.labels.length)) return false;
  return !(e.textContent || '').trim();
}).map((e) => e.outerHTML);
"""


def sign_in(driver, server, email, password):
    driver.get(server.url + "/app/sign-in")
    driver.find_element(By.ID, "email").send_keys(email)
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "#signin-form button").click()
    browser_until(driver, lambda d: "/app/sign-in" not in d.current_url, 15)


def organization_of_two(server, workdir):
    """An owner with a proved address and a colleague who accepted the owner's invitation, through the API."""
    owner = register(server, "owner@dental.example", PASSWORD, name="Dr Owner", company="Studio Dentistico")
    token = wait_for_mail(workdir, "/account/verify-email#token=").split("#token=")[1]
    assert owner.post(server.url + "/api/auth/email/verify", json={"token": token}, timeout=10).status_code == 204
    bearer = {"Authorization": "Bearer " + login(server, "owner@dental.example", PASSWORD).json()["accessToken"]}
    invited = requests.post(server.url + "/api/portal/team/invitations", json={"email": "nurse@dental.example", "role": "client_member"},
                            headers=bearer, timeout=10)
    assert invited.status_code == 201, invited.text
    link = wait_for_mail(workdir, "/app/accept-invitation#invitation=", to="nurse@dental.example")
    fragment = dict(part.split("=", 1) for part in link.split("#", 1)[1].split("&"))
    accepted = csrf_session(server).post(server.url + "/api/portal/team/accept", timeout=30, json={
        "invitationId": fragment["invitation"], "token": fragment["token"], "name": "Nurse Joy", "password": COLLEAGUE_PASSWORD})
    assert accepted.status_code == 201, accepted.text


def assert_fits_375(driver):
    driver.set_window_size(375, 800)
    try:
        wide = driver.execute_script("return document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert wide <= 0, f"{driver.current_url} scrolls sideways by {wide} px at 375 px"
    finally:
        driver.set_window_size(1280, 900)


def only_refused_input(driver):
    """Drains the browser's log, asserting it holds nothing but the 400s the server gave for the bad input."""
    logged, ran, alert = problems(driver)
    assert logged and all("400 (Bad Request)" in line for line in logged) and (ran, alert) == (0, None), logged


def bodies(driver):
    return [item.text for item in driver.find_elements(By.CSS_SELECTOR, "#messages .body")]


def test_a_direct_message_with_an_attachment_is_seen_edited_and_deleted_live(workdir, serve):
    server = serve()
    with step("an owner and an invited colleague make an organization of two"):
        organization_of_two(server, workdir)

    owner, nurse = browser(), browser()
    try:
        for driver in (owner, nurse):
            driver.set_window_size(1280, 900)
        with step("both sign in; the owner's messages page offers to start a conversation"):
            sign_in(owner, server, "owner@dental.example", PASSWORD)
            sign_in(nurse, server, "nurse@dental.example", COLLEAGUE_PASSWORD)
            owner.get(server.url + "/app/messages")
            assert owner.find_element(By.CSS_SELECTOR, "#chat .empty").text
            assert owner.execute_script(UNLABELLED) == []
            assert_fits_375(owner)

        with step("a channel without a name gets the server's error beside the field"):
            owner.find_element(By.CSS_SELECTOR, "#channel-form button").click()
            browser_until(owner, lambda d: d.find_element(By.ID, "channel-title-error").text)
            assert owner.find_element(By.ID, "channel-title").get_attribute("aria-invalid") == "true"
            assert "title" not in owner.current_url
            only_refused_input(owner)

        with step("the owner starts a direct conversation with the colleague"):
            Select(owner.find_element(By.ID, "direct-person")).select_by_visible_text("Nurse Joy (Client member)")
            owner.find_element(By.CSS_SELECTOR, "#direct-form button").click()
            live = lambda d: d.find_element(By.ID, "chat").get_attribute("data-state") == "live"
            browser_until(owner, lambda d: "thread=" in d.current_url and live(d), 15)
            assert owner.find_element(By.ID, "thread-title").text == "Nurse Joy (Client member)"
            assert owner.find_element(By.ID, "connection").text == "Live"

        with step("an empty message gets the server's error beside the field; a half-written one survives a reload"):
            owner.find_element(By.CSS_SELECTOR, "#message-form button").click()
            browser_until(owner, lambda d: d.find_element(By.ID, "message-body-error").text)
            body = owner.find_element(By.ID, "message-body")
            assert body.get_attribute("aria-invalid") == "true"
            only_refused_input(owner)
            body.send_keys("Here is the price list for Monday")
            owner.refresh()
            browser_until(owner, live, 15)
            assert owner.find_element(By.ID, "message-body").get_attribute("value") == "Here is the price list for Monday"

        with step("every control is labelled, and the message form is reachable by keyboard"):
            assert owner.execute_script(UNLABELLED) == []
            owner.find_element(By.ID, "message-body").send_keys(Keys.TAB)
            assert owner.switch_to.active_element.text == "Attach a file"
            owner.switch_to.active_element.send_keys(Keys.ENTER)
            browser_until(owner, lambda d: d.find_element(By.ID, "attach").get_attribute("open") is not None)
            # Pressed as keys, not typed into the element (typing into a file input names a file).
            for control in ("attach-file", "attach-upload"):
                ActionChains(owner).send_keys(Keys.TAB).perform()
                assert owner.switch_to.active_element.get_attribute("id") == control
            ActionChains(owner).send_keys(Keys.TAB).perform()
            assert owner.switch_to.active_element.text == "Send"
            assert_fits_375(owner)

        with step("the owner sends the message with an uploaded file"):
            document = workdir / "price-list.csv"
            document.write_text("item,price\ncleaning,90\n")
            owner.find_element(By.ID, "attach-upload").send_keys(str(document))
            owner.find_element(By.CSS_SELECTOR, "#message-form button").click()
            browser_until(owner, lambda d: bodies(d) == ["Here is the price list for Monday"], 15)
            assert "price-list.csv" in owner.find_element(By.CSS_SELECTOR, "#messages a.attachment").text
            assert owner.find_element(By.ID, "message-body").get_attribute("value") == ""
            owner.refresh()
            browser_until(owner, live, 15)
            assert owner.find_element(By.ID, "message-body").get_attribute("value") == ""
            assert problems(owner) == CLEAN

        with step("the colleague sees unread badges in the navigation and the notification"):
            nurse.get(server.url + "/app/status")
            badge = lambda d, page: d.find_element(By.CSS_SELECTOR, f"nav.top a[href='/app/{page}'] .badge").text
            assert badge(nurse, "messages").startswith("1") and badge(nurse, "notifications").startswith("1")
            nurse.get(server.url + "/app/notifications")
            notice = nurse.find_element(By.CSS_SELECTOR, "#notification-list a")
            assert notice.text == "Dr Owner shared price-list.csv"
            assert nurse.execute_script(UNLABELLED) == []
            assert_fits_375(nurse)
            notice.click()

        with step("the colleague opens the conversation and downloads the file; the owner sees it seen, live"):
            browser_until(nurse, lambda d: "thread=" in d.current_url and live(d), 15)
            browser_until(nurse, lambda d: bodies(d) == ["Here is the price list for Monday"])
            link = nurse.find_element(By.CSS_SELECTOR, "#messages a.attachment").get_attribute("href")
            cookies = "; ".join(f"{c['name']}={c['value']}" for c in nurse.get_cookies())
            fetched = requests.get(link, headers={"Cookie": cookies}, timeout=10)
            assert fetched.status_code == 200 and fetched.text == "item,price\ncleaning,90\n"
            browser_until(owner, lambda d: d.find_element(By.ID, "seen").text == "Seen by Nurse Joy (Client member)")
            browser_until(nurse, lambda d: not d.find_elements(By.CSS_SELECTOR, "nav.top a[href='/app/messages'] .badge"))
            # Only one's own messages offer edit and delete.
            assert nurse.find_elements(By.CSS_SELECTOR, "#messages .actions") == []

        with step("the owner edits the message, by keyboard; the colleague sees it edited, live"):
            owner.find_element(By.CSS_SELECTOR, "#messages .actions button").send_keys(Keys.ENTER)
            editor = browser_until(owner, lambda d: d.find_element(By.CSS_SELECTOR, "#messages form.edit textarea"))
            assert owner.switch_to.active_element == editor
            assert owner.execute_script(UNLABELLED) == []
            editor.clear()
            editor.send_keys("Here is the price list for Tuesday")
            owner.find_element(By.CSS_SELECTOR, "#messages form.edit button[type=submit]").click()
            browser_until(nurse, lambda d: bodies(d) == ["Here is the price list for Tuesday"])
            assert "edited" in nurse.find_element(By.CSS_SELECTOR, "#messages .meta").text

        with step("the owner deletes it (asked once more); the colleague sees it deleted, live"):
            remove = owner.find_elements(By.CSS_SELECTOR, "#messages .actions button")[1]
            remove.click()
            browser_until(owner, lambda d: d.find_elements(By.CSS_SELECTOR, "#messages .actions button")[1].text == "Delete for everyone?")
            owner.find_elements(By.CSS_SELECTOR, "#messages .actions button")[1].click()
            browser_until(nurse, lambda d: bodies(d) == ["This message was deleted."])
            assert nurse.find_elements(By.CSS_SELECTOR, "#messages a.attachment") == []
            browser_until(owner, lambda d: d.find_elements(By.CSS_SELECTOR, "#messages .actions") == [])
            assert problems(owner) == CLEAN and problems(nurse) == CLEAN

        with step("the server restarts: both pages say they are reconnecting, then resume without loss or duplicates"):
            thread = owner.current_url.split("thread=")[1]
            server.stop()
            for driver in (owner, nurse):
                browser_until(driver, lambda d: d.find_element(By.ID, "connection").text == "Reconnecting…", 15)
            server.start()
            # Sent while the pages may still be away: it must arrive once, by replay or live.
            bearer = {"Authorization": "Bearer " + login(server, "nurse@dental.example", COLLEAGUE_PASSWORD).json()["accessToken"]}
            sent = requests.post(f"{server.url}/api/portal/conversations/{thread}/messages", json={"body": "Back online"},
                                 headers=bearer, timeout=10)
            assert sent.status_code == 201, sent.text
            for driver in (owner, nurse):
                browser_until(driver, lambda d: d.find_element(By.ID, "chat").get_attribute("data-state") == "live", 40)
                browser_until(driver, lambda d: bodies(d) == ["This message was deleted.", "Back online"], 15)
                # Requests refused while the server was down are all the browser logged (no uncaught error).
                logged, ran, alert = problems(driver)
                assert all("/api/portal/realtime" in line or "ERR_CONNECTION_REFUSED" in line for line in logged), logged
                assert (ran, alert) == (0, None)

        with step("older messages load on demand, each once"):
            for number in range(1, 56):
                posted = requests.post(f"{server.url}/api/portal/conversations/{thread}/messages", json={"body": f"Note {number}"},
                                       headers=bearer, timeout=10)
                assert posted.status_code == 201, posted.text
            owner.refresh()
            browser_until(owner, lambda d: len(bodies(d)) == 50, 15)
            assert bodies(owner)[-1] == "Note 55"
            older = owner.find_element(By.ID, "older")
            older.send_keys(Keys.ENTER)
            expected = ["This message was deleted.", "Back online"] + [f"Note {n}" for n in range(1, 56)]
            browser_until(owner, lambda d: bodies(d) == expected)
            browser_until(owner, lambda d: not d.find_element(By.ID, "older").is_displayed())
            assert problems(owner) == CLEAN

        with step("the colleague chooses a daily mail of unread messages, and the choice is kept"):
            nurse.get(server.url + "/app/notifications")
            Select(nurse.find_element(By.ID, "digest")).select_by_value("daily")
            nurse.find_element(By.CSS_SELECTOR, "#digest-form button").click()
            browser_until(nurse, lambda d: d.find_element(By.CSS_SELECTOR, "#digest-form .notice").text == "Setting saved.")
            nurse.refresh()
            assert Select(nurse.find_element(By.ID, "digest")).first_selected_option.get_attribute("value") == "daily"
            assert problems(nurse) == CLEAN
    finally:
        owner.quit()
        nurse.quit()
