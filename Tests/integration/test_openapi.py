"""The API contract on the real binary: docs/openapi.yaml is a valid OpenAPI 3.1 document, `/api/openapi.json`
is that same document as every YAML reader sees it, and `/api/docs` renders it in headless Chromium under the
strict CSP. (The fuzz stage of scripts/test then holds Flux to the document; the Swift suite compares it with
the registered routes.)"""
import sys

import requests
import schemathesis
import yaml
from openapi_spec_validator import validate
from schemathesis.generation import GenerationMode
from selenium.webdriver.common.by import By

from helpers import ROOT, browser, browser_until, console_errors

DOCUMENT = ROOT / "docs" / "openapi.yaml"
METHODS = {"get", "put", "post", "delete", "patch"}


def test_the_document_is_valid_openapi_3_1():
    document = yaml.safe_load(DOCUMENT.read_text())
    assert document["openapi"] == "3.1.0"
    validate(document)


def test_flux_serves_the_document_as_python_reads_the_yaml(serve):
    server = serve()
    served = requests.get(server.url + "/api/openapi.json", timeout=10)
    assert served.status_code == 200
    assert served.headers["Content-Type"].startswith("application/json")
    assert served.json() == yaml.safe_load(DOCUMENT.read_text())
    validate(served.json())


def test_the_docs_page_renders_every_operation_under_the_strict_csp(serve):
    server = serve()
    document = requests.get(server.url + "/api/openapi.json", timeout=10).json()
    operations = sum(1 for item in document["paths"].values() for method in item if method in METHODS)
    driver = browser()
    try:
        driver.get(server.url + "/api/docs")
        sections = browser_until(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "section.op") or None, 15)
        assert len(sections) == operations
        assert driver.find_element(By.ID, "summary").text.startswith(f"{operations} operations.")
        login = driver.find_element(By.ID, "login").text
        assert "POST /api/auth/login" in login and "429" in login and "password" in login
        assert console_errors(driver) == []
    finally:
        driver.quit()


def test_the_fuzzer_reports_answers_the_document_does_not_allow(serve):
    """The fuzz stage's own check: given a document that is wrong about two routes, it must say so."""
    sys.path.insert(0, str(ROOT / "Tests" / "fuzz"))
    from fuzz_api import Harness, Principal

    server = serve()
    document = requests.get(server.url + "/api/openapi.json", timeout=10).json()
    live = document["paths"]["/api/health/live"]["get"]["responses"]["200"]
    live["content"]["application/json"]["schema"]["properties"]["ok"] = {"type": "string"}
    readiness = document["paths"]["/api/health"]["get"]["responses"]
    readiness["204"] = readiness.pop("200")
    wrong = {result.ok().label: result.ok() for result in schemathesis.openapi.from_dict(document).get_all_operations()}
    harness = Harness(server, seed=1, budget=30)
    for label in ("GET /api/health/live", "GET /api/health"):
        harness.fuzz(wrong[label], Principal("anyone", "not-a-token", None), GenerationMode.POSITIVE, 3, 1)
    found = {label: reason for label, reason in harness.failures}
    assert "Response violates schema" in found.get("GET /api/health/live", ""), harness.failures
    assert "Undocumented status code" in found.get("GET /api/health", ""), harness.failures
