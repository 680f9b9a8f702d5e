"""Attacks on the real binary, run as an attacker would; each test names the attack and asserts it fails."""
import pytest
import requests

from conftest import raw_https_get

# The test certificate is self-signed for this run; what is tested is what reaches Flux, not the PKI.
pytestmark = pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")


def test_metrics_is_not_reachable_through_nginx_by_any_spelling(nginx_in_front):
    """The attacker asks the public site for /metrics in every spelling nginx or Flux might treat as /metrics.
    Behind nginx every request reaches Flux from loopback, so a spelling that slipped past an exact-match block
    used to be served as a local scrape: request counts by route, the outbox backlog, process figures."""
    spellings = ["/metrics", "/metrics/", "/metrics?x", "/metrics/?x=1", "//metrics", "/./metrics", "/api/../metrics",
                 "/%6Detrics", "/%6detrics/", "/metrics%2F", "/metrics;x", "/metrics/.", "/metrics#x", "/METRICS",
                 "/Metrics/", "http://flux.test/metrics/"]
    for target in spellings:
        for headers in ({}, {"X-Forwarded-For": "127.0.0.1"}, {"Authorization": "Bearer guess"}):
            status, _, body = raw_https_get(nginx_in_front["https_port"], target, headers)
            assert status != 200 and b"http_requests_total" not in body, (target, headers, status)
    # A second proxy, or nginx with its block removed, relays from loopback too: production Flux still answers
    # nobody without METRICS_TOKEN.
    replica = nginx_in_front["replicas"][0]
    for path in ("/metrics", "/metrics/"):
        relayed = requests.get(replica.url + path, headers={"X-Forwarded-For": "203.0.113.7"}, timeout=5)
        assert relayed.status_code == 403 and "http_requests_total" not in relayed.text
        direct = requests.get(replica.url + path, timeout=5)
        assert direct.status_code == 403 and "http_requests_total" not in direct.text
