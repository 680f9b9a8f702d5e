"""`flux serve` started in an empty directory renders every kind of page and serves every stylesheet and script:
templates, CSS and JS are compiled into the binary (the EmbedResources plugin), so nothing needs to sit beside it."""
import hashlib
import json
import re
import shutil
import subprocess

import pytest
import requests

from helpers import FLUX_BIN, ROOT, csrf_session, wait_for_mail

PASSWORD = "embedded passphrase 2026"


def nonce(response):
    return re.search(r"script-src 'self' 'nonce-([^']+)'", response.headers["Content-Security-Policy"]).group(1)


def page(url, **headers):
    response = requests.get(url, headers=headers, timeout=10, allow_redirects=False)
    assert response.status_code == 200, (url, response.status_code, response.text[:300])
    assert response.headers["Content-Type"] == "text/html; charset=utf-8" and response.headers["Cache-Control"] == "no-store"
    return response


def bearer(server, email):
    token = csrf_session(server).post(server.url + "/api/auth/login", json={"email": email, "password": PASSWORD},
                                      timeout=10).json()["accessToken"]
    return {"Authorization": "Bearer " + token}


def test_pages_and_assets_come_from_the_binary_alone(workdir, serve):
    assert list(workdir.iterdir()) == []
    server = serve()

    site = page(server.url + "/")
    assert '<h2 id="chat-title">Ask FluxAI</h2>' in site.text
    assert f'<style nonce="{nonce(site)}">' in site.text and f'<script nonce="{nonce(site)}">' in site.text
    # Leaf's escape of a literal `#` (`\#`) is gone from the page, and the script's line breaks are its own.
    assert "#messages { min-height" in site.text and "\\#" not in site.text and 'indexOf("\\n\\n")' in site.text

    account = page(server.url + "/account/reset-password")
    assert "<h1>Choose a new password</h1>" in account.text
    assert 'data-endpoint="/api/auth/password/reset"' in account.text
    assert '<input id="password" name="password" type="password" autocomplete="new-password" maxlength="128" required>' in account.text
    # The page's words come from the compiled-in message catalogue, in the reader's language.
    assert "<h1>Scegli una nuova password</h1>" in page(server.url + "/account/reset-password?lang=it").text

    docs = page(server.url + "/api/docs")
    assert f'<script src="/assets/api-docs.js" nonce="{nonce(docs)}"></script>' in docs.text

    # A portal page, signed in as a client.
    visitor = csrf_session(server)
    assert visitor.post(server.url + "/api/auth/register", timeout=10, json={
        "email": "owner@embedded.example", "password": PASSWORD, "name": "Ada", "company": "Embedded <Textiles>"}).status_code == 202
    token = wait_for_mail(workdir, "/account/verify-email#token=").split("#token=")[1]
    assert visitor.post(server.url + "/api/auth/email/verify", json={"token": token}, timeout=10).status_code == 204
    team = page(server.url + "/app/team", **bearer(server, "owner@embedded.example"))
    assert "<title>Team · Flux portal</title>" in team.text and '<link rel="stylesheet" href="/assets/flux.css">' in team.text
    assert '<span class="who">owner@embedded.example (Client admin)</span>' in team.text
    assert f'<script src="/assets/flux.js" nonce="{nonce(team)}"></script>' in team.text

    # An HQ page, signed in as an engineer, showing what the client typed, escaped.
    subprocess.run([str(FLUX_BIN), "create-admin", "--email", "eng@example.com", "--role", "engineer"], input=PASSWORD + "\n",
                   env=server.env, cwd=workdir, capture_output=True, text=True, timeout=60, check=True)
    tenants = page(server.url + "/hq-command/tenants", **bearer(server, "eng@example.com"))
    assert "<h1>Tenants</h1>" in tenants.text and '<nav class="top" aria-label="Flux HQ">' in tenants.text
    assert "<td>Embedded &lt;Textiles&gt;</td>" in tenants.text

    for path, content_type, text in (("/assets/flux.css", "text/css", "--accent"),
                                     ("/assets/flux.js", "text/javascript", "textContent"),
                                     ("/assets/api-docs.js", "text/javascript", "/api/openapi.json")):
        asset = requests.get(server.url + path, timeout=10)
        assert asset.status_code == 200 and asset.headers["Content-Type"] == content_type, path
        assert asset.headers["Cache-Control"] == "public, max-age=300"
        assert asset.headers["ETag"] == '"' + hashlib.sha256(asset.content).hexdigest()[:16] + '"'
        assert text in asset.text

    # Nothing was read from, or had to be put in, the working directory: Flux made its data directory and log only.
    assert {entry.name for entry in workdir.iterdir()} == {"data", server.log_path.name}


def test_the_embedding_keeps_any_text_unchanged(tmp_path):
    """The plugin's script gives each raw string literal a delimiter that the text can neither close early nor
    escape from, so a file holding what would close or escape from a literal with fewer `#`s comes out as it is."""
    swiftc = shutil.which("swiftc")
    if not swiftc:
        pytest.skip("needs swiftc")
    texts = {
        "Resources/Public/delimiters.txt": 'closes """# and """## early; escapes \\#(x) and \\##n and \\#\nat a line end',
        "Resources/Views/no-final-line-break.leaf": "<p>#(text)</p>",
        "Resources/blank-lines.txt": "\n\nbetween blank lines\n\n",
        "Resources/empty.txt": "",
        "docs/openapi.yaml": 'quotes """ and backslashes \\n \\\\ stay\n',
    }
    for path, text in texts.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_bytes(text.encode())
    generated = tmp_path / "EmbeddedResources.swift"
    (tmp_path / "Resources" / ".DS_Store").write_text("a hidden file is left out")
    subprocess.run(["/bin/sh", str(ROOT / "Plugins" / "EmbedResources" / "embed-resources.sh"), str(tmp_path), str(generated)], check=True)
    main = tmp_path / "main.swift"
    main.write_text("import Foundation\n"
                    "print(String(decoding: try! JSONSerialization.data(withJSONObject: embeddedResources), as: UTF8.self))\n")
    built = subprocess.run([swiftc, str(generated), str(main), "-o", str(tmp_path / "embedded")], capture_output=True, text=True,
                           timeout=300)
    assert built.returncode == 0, built.stderr
    printed = subprocess.run([str(tmp_path / "embedded")], capture_output=True, text=True, check=True).stdout
    assert json.loads(printed) == texts
