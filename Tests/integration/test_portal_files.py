"""The portal's files page in headless Chromium against the real binary.

The journey: a client uploads a 100 MB zip (random, incompressible) through the page's file input, watches its
progress bar move while the server's memory stays flat, shares it, and a second browser with no account opens the
link, downloads it (same SHA-256) and, once the link is revoked, gets a page saying so with the next step.
Failures: the server's refusal (over the organization's quota) shows in the upload's row, and Retry sends the same
file again once there is room, or after the server was stopped in the middle of an upload; nobody picks the file
twice. Forms: the server's field errors beside the fields with what was typed kept, every control labelled and
reached by keyboard, nothing wider than a 375 px screen."""
import hashlib
import os
import threading
import time
import zipfile

import requests
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select

from helpers import (accessibility_problems, browser, browser_until, clean_env, console_errors, memory_kib, problems, register,
                     scrolls_sideways, step, wait_until)

PASSWORD = "client passphrase 2026"
MIB = 1024 * 1024
CLEAN = ([], 0, None)


# MARK: - helpers


def signed_in(server, email="owner@clinic.example", company="Clinica Roma"):
    """A client admin registered through the API, signed in at /app/files in a new browser."""
    register(server, email, PASSWORD, name="Dr Who", company=company)
    driver = browser()
    driver.get(server.url + "/app/files")
    browser_until(driver, lambda d: "/app/sign-in" in d.current_url)
    driver.find_element(By.ID, "email").send_keys(email)
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "#signin-form button").click()
    browser_until(driver, lambda d: d.current_url.endswith("/app/files") and d.find_elements(By.ID, "upload-form"), 15)
    return driver


def downloading_browser(directory):
    """A second headless Chromium, with no session, that saves downloads into `directory`."""
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
        options.add_argument(argument)
    options.add_experimental_option("prefs", {"download.default_directory": str(directory), "download.prompt_for_download": False})
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(directory)})
    return driver


def random_zip(path, payload_bytes):
    """A zip of incompressible random data (stored, so the archive is as large as its content)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        with archive.open("data.bin", "w", force_zip64=True) as entry:
            left = payload_bytes
            while left:
                piece = os.urandom(min(left, 4 * MIB))
                entry.write(piece)
                left -= len(piece)
        archive.writestr("README.txt", "Drawings for the clinic's new wing.\n")
    return path


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as source:
        while chunk := source.read(MIB):
            digest.update(chunk)
    return digest.hexdigest()


def row_of(driver, name):
    """The listing's row of the file called `name`."""
    return driver.find_element(By.CSS_SELECTOR, f"#file-list tr[data-name='{name}']")


def upload_states(driver):
    """Each upload row: (file name, progress value, state, words shown)."""
    return driver.execute_script("""return Array.from(document.querySelectorAll('#uploads li')).map(li =>
        [li.querySelector('.upload-name').textContent, li.querySelector('progress').value, li.dataset.state,
         li.querySelector('.upload-state').textContent])""")


def upload_state(driver, name):
    return next((state for state in upload_states(driver) if state[0] == name), None)


def choose(driver, *paths):
    driver.find_element(By.ID, "upload-file").send_keys("\n".join(str(path) for path in paths))
    driver.find_element(By.CSS_SELECTOR, "#upload-form button[type=submit]").click()


def expected_refusals(driver):
    """Console errors other than the failed requests a test provokes on purpose (Chromium logs each non-2xx)."""
    return [line for line in console_errors(driver) if "Failed to load resource" not in line]


def narrow(driver, width=375):
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {"width": width, "height": 812, "deviceScaleFactor": 1, "mobile": True})


UNLABELLED = """
const named = (el) => {
  if (el.getAttribute('aria-label')?.trim()) return true;
  const by = el.getAttribute('aria-labelledby');
  if (by && by.split(' ').some(id => document.getElementById(id)?.textContent.trim())) return true;
  if (el.labels && Array.from(el.labels).some(l => l.textContent.trim())) return true;
  if (el.tagName === 'BUTTON' || el.tagName === 'A') return el.textContent.trim() !== '';
  return false;
};
return Array.from(document.querySelectorAll('main input, main select, main textarea, main button, main a[href], main progress'))
  .filter(el => el.type !== 'hidden' && !named(el)).map(el => el.outerHTML.slice(0, 120));
"""

# Every control a keyboard must reach: visible, enabled, outside closed dialogs.
FOCUSABLE = """
return Array.from(document.querySelectorAll('main a[href], main button, main input, main select'))
  .filter(el => !el.disabled && el.offsetParent !== null && !el.closest('dialog:not([open])'))
  .map(el => { el.dataset.kbd = el.dataset.kbd || String(Math.random()); return el.dataset.kbd; });
"""


def tab_through(driver, limit=300):
    """Presses Tab from the top of a freshly loaded page until focus comes back around; returns what it reached."""
    reached = []
    for _ in range(limit):
        ActionChains(driver).send_keys(Keys.TAB).perform()
        key = driver.execute_script("""const el = document.activeElement;
            if (!el || el === document.body) return 'body';
            el.dataset.kbd = el.dataset.kbd || String(Math.random()); return el.dataset.kbd""")
        if key in reached:
            break
        reached.append(key)
    return reached


# MARK: - the journey


def test_a_100_mb_zip_uploads_with_progress_is_shared_and_downloads_in_a_second_browser(workdir, serve):
    server = serve()
    archive = random_zip(workdir / "drawings.zip", 100 * 1000 * 1000)
    size = archive.stat().st_size
    assert 100 * 1000 * 1000 < size <= 100 * MIB
    driver = signed_in(server)
    recipient = None
    try:
        with step("the client uploads the zip through the page and watches its progress while memory stays flat"):
            pid = server.process.pid
            resident_before = memory_kib(pid, "VmRSS")
            peak = [resident_before]
            sampling = threading.Event()

            def sample():
                while not sampling.is_set():
                    peak[0] = max(peak[0], memory_kib(pid, "VmRSS"))
                    time.sleep(0.02)

            sampler = threading.Thread(target=sample)
            sampler.start()
            try:
                Select(driver.find_element(By.ID, "upload-visibility")).select_by_value("tenant")
                # A local upload is over in about a second: at 50 MiB/s the bar is surely seen on its way.
                driver.set_network_conditions(offline=False, latency=0, download_throughput=500 * MIB, upload_throughput=50 * MIB)
                choose(driver, archive)
                seen = set()
                deadline = time.monotonic() + 300
                while time.monotonic() < deadline:
                    state = upload_state(driver, "drawings.zip")
                    if state:
                        seen.add(state[1])
                        if state[2] in ("done", "failed"):
                            break
                    time.sleep(0.05)
            finally:
                sampling.set()
                sampler.join()
            driver.delete_network_conditions()
            assert state[2] == "done", state
            between = sorted(value for value in seen if 0 < value < 100)
            assert between, f"the progress bar never showed a value between 0 and 100: {sorted(seen)}"
            grown = (peak[0] - resident_before) / 1024
            print(f"100 MB upload: progress seen at {between[:5]}…{between[-3:]} ({len(between)} values), "
                  f"server RSS {resident_before / 1024:.1f} MiB before, peak {peak[0] / 1024:.1f} MiB (+{grown:.1f} MiB)")
            assert grown <= 16, f"resident memory grew {grown:.1f} MiB during a 100 MB upload"
            browser_until(driver, lambda d: "drawings.zip" in d.find_element(By.ID, "file-list").text)
            row = row_of(driver, "drawings.zip")
            assert "application/zip" in row.text and "95.4 MB" in row.text
            assert driver.find_element(By.ID, "usage-text").text.startswith("95.4 MB of 1 GB")
            assert not row.find_elements(By.CSS_SELECTOR, "button.preview-file")  # a zip is never shown in place
            assert problems(driver) == CLEAN

        with step("the client creates a seven-day share link from the file's share dialog"):
            row.find_element(By.CSS_SELECTOR, "button.share-file").click()
            browser_until(driver, lambda d: d.find_element(By.ID, "share-dialog").get_attribute("open") is not None)
            Select(driver.find_element(By.ID, "share-hours")).select_by_value("168")
            driver.find_element(By.CSS_SELECTOR, "#share-form button[type=submit]").click()
            link = browser_until(driver, lambda d: d.find_element(By.ID, "share-url").get_attribute("value"))
            assert "/api/shared/" in link
            browser_until(driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#share-list input.share-url")) == 1)
            assert driver.find_element(By.CSS_SELECTOR, "#share-list input.share-url").get_attribute("value") == link
            assert problems(driver) == CLEAN

        with step("a second browser, signed in nowhere, opens the link and downloads the same bytes"):
            downloads = workdir / "downloads"
            downloads.mkdir()
            recipient = downloading_browser(downloads)
            recipient.get(link)
            assert recipient.find_element(By.ID, "shared-name").text == "drawings.zip"
            assert "95.4 MB" in recipient.find_element(By.ID, "shared-file").text
            recipient.find_element(By.ID, "shared-download").click()
            saved = downloads / "drawings.zip"
            wait_until(lambda: saved.exists() and saved.stat().st_size == size and not list(downloads.glob("*.crdownload")), 120, 0.2)
            assert saved.exists() and saved.stat().st_size == size, list(downloads.iterdir())
            assert sha256(saved) == sha256(archive)
            assert problems(recipient) == CLEAN
            # Outside a browser the link is the file itself (what a script or download manager gets).
            fetched = hashlib.sha256()
            with requests.get(link, stream=True, timeout=60) as answer:
                assert answer.status_code == 200 and answer.headers["Content-Disposition"].startswith("attachment;")
                assert answer.headers["X-Content-Type-Options"] == "nosniff" and "sandbox" in answer.headers["Content-Security-Policy"]
                for chunk in answer.iter_content(MIB):
                    fetched.update(chunk)
            assert fetched.hexdigest() == sha256(archive)

        with step("the client revokes the link; the second browser gets a page saying so and what to do next"):
            driver.find_element(By.CSS_SELECTOR, "#share-list button.revoke-link").click()
            browser_until(driver, lambda d: "No link works now." in d.find_element(By.ID, "share-list").text)
            recipient.get(link)
            assert recipient.find_element(By.TAG_NAME, "h1").text == "This link no longer works"
            assert "Ask the person who sent it for a new link" in recipient.find_element(By.ID, "shared-gone").text
            assert recipient.find_element(By.CSS_SELECTOR, "#shared-gone a").get_attribute("href").endswith("/app/files")
            assert not scrolls_sideways(recipient)
            assert accessibility_problems(recipient) == []
            narrow(recipient)
            recipient.get(link)
            assert not scrolls_sideways(recipient)
            assert requests.get(link, timeout=10).json()["error"]["code"] == "not_found"
            assert expected_refusals(recipient) == []
    finally:
        driver.quit()
        if recipient:
            recipient.quit()


# MARK: - failures and retry


def test_a_refused_or_interrupted_upload_shows_why_and_retry_sends_the_same_file_again(workdir, serve):
    server = serve(env=clean_env(TENANT_QUOTA_BYTES=str(3 * MIB), PORTAL_FILE_MAX_BYTES=str(2 * MIB)))
    first, second, huge = workdir / "first.pdf", workdir / "second.bin", workdir / "huge.bin"
    first.write_bytes(b"%PDF-1.7\n" + os.urandom(int(1.5 * MIB)))
    second.write_bytes(os.urandom(int(1.8 * MIB)))
    huge.write_bytes(os.urandom(3 * MIB))
    driver = signed_in(server)
    try:
        with step("over the organization's quota: the row shows the server's message and a Retry button"):
            choose(driver, first, second, huge)
            browser_until(driver, lambda d: all(s[2] in ("done", "failed") for s in upload_states(d)) and len(upload_states(d)) == 3, 60)
            states = {name: (state, words) for name, _, state, words in upload_states(driver)}
            assert states["first.pdf"][0] == "done"
            assert states["second.bin"] == ("failed", "Not uploaded: This upload would take the organization past its 3 MB storage quota.")
            # Over the file limit, the page says so before sending anything.
            assert states["huge.bin"] == ("failed", "Not uploaded: the file is larger than 2 MB, the most one file may be.")
            retry = driver.find_element(By.XPATH, "//li[.//span[.='second.bin']]//button[.='Retry']")
            assert expected_refusals(driver) == []

        with step("after room is made (a file deleted with confirmation), Retry stores the same file without picking it again"):
            row_of(driver, "first.pdf").find_element(By.CSS_SELECTOR, "button.delete-file").click()
            browser_until(driver, lambda d: d.find_element(By.ID, "delete-dialog").get_attribute("open") is not None)
            assert "first.pdf will be deleted for everyone" in driver.find_element(By.ID, "delete-text").text
            # The dialog opens on Cancel: a stray Enter deletes nothing.
            assert driver.switch_to.active_element.text == "Cancel"
            driver.find_element(By.CSS_SELECTOR, "#delete-form button[type=submit]").click()
            browser_until(driver, lambda d: not d.find_elements(By.CSS_SELECTOR, "#file-list tr[data-name='first.pdf']"))
            retry.click()
            browser_until(driver, lambda d: upload_state(d, "second.bin")[2] == "done", 30)
            browser_until(driver, lambda d: "second.bin" in d.find_element(By.ID, "file-list").text)

        with step("the server stops in the middle of an upload: the row says the connection was lost"):
            server.stop()
            server.env = dict(server.env, TENANT_QUOTA_BYTES=str(200 * MIB), PORTAL_FILE_MAX_BYTES=str(100 * MIB))
            server.start()
            big = workdir / "survey.bin"
            big.write_bytes(os.urandom(40 * MIB))
            driver.refresh()
            # Slow enough that the upload is surely in flight when the server goes.
            driver.set_network_conditions(offline=False, latency=0, download_throughput=500 * MIB, upload_throughput=4 * MIB)
            choose(driver, big)
            browser_until(driver, lambda d: 5 <= (upload_state(d, "survey.bin") or [0, 0])[1] <= 60, 60)
            server.process.kill()
            server.process.wait(10)
            browser_until(driver, lambda d: upload_state(d, "survey.bin")[2] == "failed", 30)
            assert upload_state(driver, "survey.bin")[3] == "Not uploaded: the connection was lost before the upload finished."

        with step("once the server is back, Retry sends the whole file again and it arrives intact"):
            server.start()
            driver.delete_network_conditions()
            driver.find_element(By.XPATH, "//li[.//span[.='survey.bin']]//button[.='Retry']").click()
            browser_until(driver, lambda d: upload_state(d, "survey.bin")[2] == "done", 120)
            browser_until(driver, lambda d: "survey.bin" in d.find_element(By.ID, "file-list").text)
            cookies = {cookie["name"]: cookie["value"] for cookie in driver.get_cookies()}
            href = row_of(driver, "survey.bin").find_element(By.CSS_SELECTOR, "a.file-name").get_attribute("href")
            stored = requests.get(href, cookies=cookies, timeout=60)
            assert stored.status_code == 200 and hashlib.sha256(stored.content).hexdigest() == sha256(big)
            assert expected_refusals(driver) == []
    finally:
        driver.quit()


# MARK: - forms, labels, keyboard, narrow screens


def test_the_files_forms_show_field_errors_keep_input_and_work_by_keyboard_on_a_narrow_screen(workdir, serve):
    server = serve()
    driver = signed_in(server)
    try:
        with step("a bad folder name, submitted with Enter: the server's error beside the field, the name kept"):
            name = driver.find_element(By.ID, "folder-name")
            name.send_keys("Plans/2026", Keys.ENTER)
            error = browser_until(driver, lambda d: d.find_element(By.ID, "folder-name-error").text)
            assert error == "must be 1 to 100 characters, without /"
            assert name.get_attribute("value") == "Plans/2026" and name.get_attribute("aria-invalid") == "true"
            assert driver.switch_to.active_element == name
            name.clear()
            name.send_keys("Plans", Keys.ENTER)
            browser_until(driver, lambda d: "Plans/" in d.find_element(By.ID, "folders").text)
            assert driver.find_element(By.ID, "folder-name-error").text == ""

        with step("a file dropped on the drop zone uploads like a chosen one"):
            driver.execute_script("""const files = new DataTransfer();
                files.items.add(new File(['dropped by drag and drop\\n'], 'dropped.txt', {type: 'text/plain'}));
                const zone = document.getElementById('dropzone');
                for (const type of ['dragenter', 'dragover', 'drop'])
                  zone.dispatchEvent(new DragEvent(type, {dataTransfer: files, bubbles: true, cancelable: true}));""")
            browser_until(driver, lambda d: "dropped.txt" in d.find_element(By.ID, "file-list").text, 20)
            assert upload_state(driver, "dropped.txt")[1:3] == [100, "done"]

        with step("no file chosen: the upload form says so beside the file input"):
            driver.find_element(By.CSS_SELECTOR, "#upload-form button[type=submit]").click()
            assert driver.find_element(By.ID, "upload-file-error").text == "Choose at least one file."

        with step("a file is uploaded, previewed, renamed (a bad name first) and moved into the folder, all by keyboard"):
            png = workdir / "plan.png"
            png.write_bytes(bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                                          "1f15c4890000000d49444154789c63f8cfc0f00f0004850180a6a5c8790000000049454e44ae426082"))
            choose(driver, png)
            browser_until(driver, lambda d: "plan.png" in d.find_element(By.ID, "file-list").text, 20)
            preview = row_of(driver, "plan.png").find_element(By.CSS_SELECTOR, "button.preview-file")
            preview.send_keys(Keys.ENTER)
            image = browser_until(driver, lambda d: d.find_element(By.CSS_SELECTOR, "#preview-body img"))
            browser_until(driver, lambda d: d.execute_script("return arguments[0].complete && arguments[0].naturalWidth", image) == 1)
            ActionChains(driver).send_keys(Keys.ESCAPE).perform()
            browser_until(driver, lambda d: d.find_element(By.ID, "preview-dialog").get_attribute("open") is None)
            assert driver.switch_to.active_element == row_of(driver, "plan.png").find_element(By.CSS_SELECTOR, "button.preview-file")

            row_of(driver, "plan.png").find_element(By.CSS_SELECTOR, "button.rename-file").send_keys(Keys.ENTER)
            field = browser_until(driver, lambda d: d.switch_to.active_element if d.switch_to.active_element.get_attribute("id") == "rename-name" else None)
            field.send_keys(Keys.CONTROL, "a")
            field.send_keys("   ", Keys.ENTER)
            assert browser_until(driver, lambda d: d.find_element(By.ID, "rename-name-error").text) == "must be 1 to 200 bytes"
            assert field.get_attribute("value") == "   "
            field.send_keys(Keys.CONTROL, "a")
            field.send_keys("floor plan.png", Keys.ENTER)
            browser_until(driver, lambda d: "floor plan.png" in d.find_element(By.ID, "file-list").text)

            row_of(driver, "floor plan.png").find_element(By.CSS_SELECTOR, "button.move-file").send_keys(Keys.ENTER)
            target = browser_until(driver, lambda d: d.find_element(By.ID, "move-target"))
            assert [option.text for option in Select(target).options] == ["All files", "Plans"]
            Select(target).select_by_visible_text("Plans")
            target.send_keys(Keys.TAB)
            assert driver.switch_to.active_element.text == "Move"
            driver.switch_to.active_element.send_keys(Keys.ENTER)
            browser_until(driver, lambda d: "floor plan.png" not in d.find_element(By.ID, "file-list").text)

        with step("who can see a file changes from its row; a share expiry the server refuses is shown beside its field"):
            driver.find_element(By.LINK_TEXT, "Plans/").click()
            browser_until(driver, lambda d: "floor plan.png" in d.find_element(By.ID, "file-list").text)
            assert [c.text for c in driver.find_elements(By.CSS_SELECTOR, ".crumbs li")] == ["All files", "Plans"]
            visibility = Select(row_of(driver, "floor plan.png").find_element(By.CSS_SELECTOR, "select.file-visibility"))
            visibility.select_by_value("tenant")
            browser_until(driver, lambda d: d.find_element(By.ID, "status").text == "Who can see it: changed.")
            driver.refresh()
            assert Select(row_of(driver, "floor plan.png").find_element(By.CSS_SELECTOR, "select.file-visibility")).first_selected_option.text == "My organization"
            row_of(driver, "floor plan.png").find_element(By.CSS_SELECTOR, "button.share-file").click()
            hours = browser_until(driver, lambda d: d.find_element(By.ID, "share-hours"))
            # Only the server's bounds stop a value the page would never offer.
            driver.execute_script("arguments[0].add(new Option('a year', '8760')); arguments[0].value = '8760'", hours)
            driver.find_element(By.CSS_SELECTOR, "#share-form button[type=submit]").click()
            assert browser_until(driver, lambda d: d.find_element(By.ID, "share-hours-error").text) == "must be 1 to 720"
            assert hours.get_attribute("value") == "8760"
            ActionChains(driver).send_keys(Keys.ESCAPE).perform()

        with step("a folder is renamed, and one holding files is not deleted: the dialog says why"):
            driver.find_element(By.LINK_TEXT, "All files").click()
            browser_until(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "button.rename-folder"))
            driver.find_element(By.CSS_SELECTOR, "button.rename-folder").click()
            field = browser_until(driver, lambda d: d.find_element(By.ID, "rename-name"))
            field.send_keys(Keys.CONTROL, "a")
            field.send_keys("Plans and drawings", Keys.ENTER)
            browser_until(driver, lambda d: "Plans and drawings/" in d.find_element(By.ID, "folders").text)
            driver.find_element(By.CSS_SELECTOR, "button.delete-folder").click()
            assert "Plans and drawings will be deleted" in browser_until(driver, lambda d: d.find_element(By.ID, "delete-text").text)
            driver.find_element(By.CSS_SELECTOR, "#delete-form button[type=submit]").click()
            notice = browser_until(driver, lambda d: d.find_element(By.CSS_SELECTOR, "#delete-form .notice").text)
            assert notice == "Move or delete what the folder holds first."
            ActionChains(driver).send_keys(Keys.ESCAPE).perform()
            assert expected_refusals(driver) == []

        with step("every control has a label, and Tab reaches every one of them"):
            for page in ("/app/files", driver.find_element(By.CSS_SELECTOR, "a.folder-link").get_attribute("href")):
                driver.get(page if page.startswith("http") else server.url + page)
                assert driver.execute_script(UNLABELLED) == []
                wanted = set(driver.execute_script(FOCUSABLE))
                reached = set(tab_through(driver))
                assert wanted <= reached, f"Tab never reached {len(wanted - reached)} of {len(wanted)} controls on {page}"
            for dialog in ("share-file", "rename-file", "move-file", "delete-file"):
                driver.find_element(By.CSS_SELECTOR, "button." + dialog).click()
                browser_until(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "dialog[open]"))
                assert driver.execute_script(UNLABELLED) == [], dialog
                ActionChains(driver).send_keys(Keys.ESCAPE).perform()
                browser_until(driver, lambda d: not d.find_elements(By.CSS_SELECTOR, "dialog[open]"))

        with step("at 375 px nothing scrolls sideways: the listing, the upload rows and the dialogs"):
            narrow(driver)
            long_name = workdir / ("an-exceptionally-long-file-name-without-spaces-" * 3 + ".csv")
            long_name.write_text("a,b\n1,2\n")
            choose(driver, long_name)
            browser_until(driver, lambda d: upload_state(d, long_name.name)[2] == "done", 20)
            browser_until(driver, lambda d: long_name.name in d.find_element(By.ID, "file-list").text)
            assert not scrolls_sideways(driver)
            row_of(driver, long_name.name).find_element(By.CSS_SELECTOR, "button.share-file").click()
            driver.find_element(By.CSS_SELECTOR, "#share-form button[type=submit]").click()
            browser_until(driver, lambda d: d.find_element(By.ID, "share-url").get_attribute("value"))
            assert not scrolls_sideways(driver)
            assert accessibility_problems(driver) == []
            ActionChains(driver).send_keys(Keys.ESCAPE).perform()
            driver.get(server.url + "/app/files")
            assert not scrolls_sideways(driver)
            assert accessibility_problems(driver) == []
            assert problems(driver) == CLEAN
    finally:
        driver.quit()


def test_nginx_in_front_lets_a_portal_upload_past_the_public_upload_size(nginx_in_front):
    """The shipped site allows 25 MB bodies in general and PORTAL_FILE_MAX_BYTES' default on the portal's upload
    route: a 60 MB body reaches Flux (which refuses it with its JSON envelope: nobody signed in), instead of nginx's own 413."""
    body = os.urandom(60 * MIB)
    answer = requests.post(nginx_in_front["https"] + "/api/tenants/00000000-0000-0000-0000-000000000000/files", data=body,
                           headers={"Content-Type": "multipart/form-data; boundary=x"}, verify=False, timeout=60)
    assert answer.status_code in (401, 403) and answer.json()["error"]["code"], answer.text[:200]
    elsewhere = requests.post(nginx_in_front["https"] + "/api/public-upload", data=body, verify=False, timeout=60,
                              headers={"Content-Type": "multipart/form-data; boundary=x"})
    assert elsewhere.status_code == 413
