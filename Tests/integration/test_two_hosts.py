"""Two hosts on one bucket (issue 33): two `flux serve` replicas, each with its own DATA_DIR, on one PostgreSQL and
one SeaweedFS, the shipped nginx site in front over HTTPS. A 100 MB portal file sent to one replica downloads
byte for byte (SHA-256) from the other, and one sent through nginx from both; a public upload through one is
served by the other; a delete through one is gone from both and from the bucket; a replica whose DATA_DIR is
removed entirely comes back with an empty one and still serves every file. Then the store dies (SIGKILL) in the
middle of a 100 MB upload: the client gets an error, no row is written, and what the bucket holds afterwards is
checked against the rows (the orphan collection only takes objects a day old; see that test's docstring)."""
import datetime
import hashlib
import hmac
import os
import pathlib
import re
import shutil
import select
import signal
import socket
import subprocess
import time
import urllib.parse
import uuid
import xml.etree.ElementTree as ElementTree
from types import SimpleNamespace

import pytest
import requests

from helpers import STRONG_SECRET, FluxServer, nginx_command, nginx_site, step, wait_for_nginx, wait_until
from test_object_storage import flux_env, seaweedfs, start_store_again, upload, video  # noqa: F401 (seaweedfs: a fixture)

# The test certificate is self-signed for this run; what is tested is the storage behind nginx, not the PKI.
pytestmark = pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")

MIB = 1024 * 1024
LARGE = 100 * 1000 * 1000  # 100 MB, under PORTAL_FILE_MAX_BYTES' default of 100 MiB
PASSWORD = "two hosts passphrase 2026"


# MARK: - helpers


def s3_get(seaweedfs, query, key=None):
    """A GET of the bucket (or of `key` in it; `query` names the operation) signed with Signature Version 4, stdlib
    only; returns the parsed XML answer."""
    endpoint, bucket = seaweedfs["FLUX_TEST_S3_ENDPOINT"], seaweedfs["FLUX_TEST_S3_BUCKET"]
    access, secret = seaweedfs["FLUX_TEST_S3_ACCESS_KEY_ID"], seaweedfs["FLUX_TEST_S3_SECRET_ACCESS_KEY"]
    region = seaweedfs.get("FLUX_TEST_S3_REGION", "us-east-1")
    host = endpoint.split("://", 1)[1]
    path = f"/{bucket}" + (f"/{urllib.parse.quote(key, safe='/-_.~')}" if key else "")
    encode = lambda text: urllib.parse.quote(text, safe="-_.~")  # noqa: E731
    canonical_query = "&".join(f"{encode(k)}={encode(v)}" for k, v in sorted(query.items()))
    now = datetime.datetime.now(datetime.timezone.utc)
    stamp, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    empty = hashlib.sha256(b"").hexdigest()
    canonical = (f"GET\n{path}\n{canonical_query}\nhost:{host}\nx-amz-content-sha256:{empty}\nx-amz-date:{stamp}\n\n"
                 f"host;x-amz-content-sha256;x-amz-date\n{empty}")
    scope = f"{day}/{region}/s3/aws4_request"
    to_sign = f"AWS4-HMAC-SHA256\n{stamp}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    key = ("AWS4" + secret).encode()
    for part in (day, region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    answer = requests.get(f"{endpoint}{path}?{canonical_query}", timeout=30, headers={
        "x-amz-date": stamp, "x-amz-content-sha256": empty,
        "Authorization": f"AWS4-HMAC-SHA256 Credential={access}/{scope}, SignedHeaders=host;x-amz-content-sha256;x-amz-date, "
                         f"Signature={signature}"})
    assert answer.status_code == 200, answer.text
    return ElementTree.fromstring(answer.content)


def _texts(tree, element, field):
    """The `field` of every `element` in an S3 answer, whatever its XML namespace."""
    local = lambda tag: tag.rsplit("}", 1)[-1]  # noqa: E731
    return [child.text for node in tree.iter() if local(node.tag) == element
            for child in node if local(child.tag) == field]


def bucket_keys(seaweedfs, prefix):
    """Every object key under `prefix` (ListObjectsV2; the test never stores more than one page)."""
    return _texts(s3_get(seaweedfs, {"list-type": "2", "prefix": prefix}), "Contents", "Key")


def pending_multipart_uploads(seaweedfs, prefix):
    """The multipart uploads under `prefix` that were started and neither completed nor aborted, as
    (key, parts stored, bytes in them)."""
    listing = s3_get(seaweedfs, {"uploads": "", "prefix": prefix})
    pending = []
    for key, upload_id in zip(_texts(listing, "Upload", "Key"), _texts(listing, "Upload", "UploadId")):
        sizes = _texts(s3_get(seaweedfs, {"uploadId": upload_id}, key), "Part", "Size")
        pending.append((key, len(sizes), sum(int(size) for size in sizes)))
    return pending


def portal_body(data, boundary, name, when=None, at=None):
    """A multipart body with one `file` part holding `data`, produced in 1 MiB pieces; `when()` is called once,
    just before the first piece at or past byte `at` of the file goes out."""
    yield (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n"
           f"Content-Type: application/octet-stream\r\n\r\n").encode()
    view = memoryview(data)
    for offset in range(0, len(data), MIB):
        if when is not None and offset >= at:
            when()
            when = None
        yield bytes(view[offset:offset + MIB])
    yield f"\r\n--{boundary}--\r\n".encode()


def upload_portal_file(base, client, data, name, when=None, at=None, **options):
    boundary = "b" + uuid.uuid4().hex
    return requests.post(f"{base}/api/tenants/{client.tenant}/files", data=portal_body(data, boundary, name, when, at),
                         headers={**client.bearer, "Content-Type": f"multipart/form-data; boundary={boundary}"},
                         timeout=300, **options)


def upload_reading_early_answers(server, client, data, name, when, at):
    """The portal upload over a plain socket that, like curl or a browser, reads the answer while it sends: Flux
    may answer (an error) before the body is all sent and then read no more of it. Returns (status, body text,
    bytes of the file sent, seconds from `when()` to the answer)."""
    boundary = "b" + uuid.uuid4().hex
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n"
            f"Content-Type: application/octet-stream\r\n\r\n").encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    request = (f"POST /api/tenants/{client.tenant}/files HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
               f"Authorization: {client.bearer['Authorization']}\r\nContent-Type: multipart/form-data; boundary={boundary}\r\n"
               f"Content-Length: {len(head) + len(data) + len(tail)}\r\nConnection: close\r\n\r\n").encode() + head
    view, sent, called, answer = memoryview(data), 0, None, b""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as connection:
        connection.sendall(request)
        while True:
            if called is None and sent >= at:
                when()
                called = time.monotonic()
            readable, writable, _ = select.select([connection], [connection] if sent < len(data) else [], [], 120)
            assert readable or writable, f"neither an answer nor room to send for 120 s, {sent} bytes sent"
            if readable:
                break
            if sent < len(data):
                sent += connection.send(view[sent:sent + MIB])
                if sent == len(data):
                    connection.sendall(tail)
        connection.settimeout(30)
        while chunk := connection.recv(65536):
            answer += chunk
            head_end = answer.find(b"\r\n\r\n")
            length = re.search(rb"(?im)^content-length: *(\d+)", answer[:head_end]) if head_end >= 0 else None
            if length and len(answer) >= head_end + 4 + int(length.group(1)):
                break
    answered = time.monotonic()
    status_line, _, rest = answer.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2].decode(errors="replace"), sent, answered - (called or answered)


def downloaded_sha256(url, headers=None, **options):
    """(status, SHA-256 hex of the body, bytes) of a streamed GET, never holding the whole body."""
    digest, size = hashlib.sha256(), 0
    with requests.get(url, headers=headers, stream=True, timeout=300, **options) as answer:
        if answer.status_code != 200:
            return answer.status_code, None, 0
        for chunk in answer.iter_content(MIB):
            digest.update(chunk)
            size += len(chunk)
    return 200, digest.hexdigest(), size


def large_files(directory, at_least=MIB):
    """Files of `at_least` bytes where DATA_DIR keeps stored and staged (`.incoming`) uploads and portal files."""
    return [p for folder in ("uploads", "files") if (directory / folder).exists()
            for p in (directory / folder).rglob("*") if p.is_file() and p.stat().st_size >= at_least]


def client_account(base, email, **options):
    """A client organization's admin registered and signed in at `base`: bearer header and tenant id."""
    visitor = requests.Session()
    visitor.headers["X-CSRF-Token"] = visitor.get(base + "/api/csrf", timeout=10, **options).json()["token"]
    registered = visitor.post(base + "/api/auth/register", timeout=30, **options,
                              json={"email": email, "password": PASSWORD, "name": "Owner", "company": "Two Hosts Ltd"})
    assert registered.status_code == 202, registered.text
    signed_in = visitor.post(base + "/api/auth/login", json={"email": email, "password": PASSWORD}, timeout=30, **options)
    assert signed_in.status_code == 200, signed_in.text
    bearer = {"Authorization": "Bearer " + signed_in.json()["accessToken"]}
    me = requests.get(base + "/api/portal/me", headers=bearer, timeout=10, **options)
    assert me.status_code == 200, me.text
    return SimpleNamespace(bearer=bearer, tenant=me.json()["tenantId"])


def file_names(base, client):
    listing = requests.get(f"{base}/api/tenants/{client.tenant}/files", headers=client.bearer, timeout=10)
    assert listing.status_code == 200, listing.text
    return sorted(entry["name"] for entry in listing.json()["files"])


# MARK: - fixtures


@pytest.fixture
def two_hosts(tmp_path, seaweedfs, postgres_database):
    """Two production replicas with their own DATA_DIR (host1/data, host2/data) on one PostgreSQL database and one
    bucket, behind the shipped nginx site."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.path.exists(nginx):
        pytest.skip("nginx is not installed (scripts/test installs it)")
    env = flux_env(seaweedfs, FLUX_ENV="production", SESSION_SECRET=STRONG_SECRET, DATABASE_URL=postgres_database["url"],
                   TRUSTED_PROXIES="127.0.0.1", PUBLIC_URL="https://flux.test", UPLOAD_MAX_BYTES=str(20 * MIB))
    hosts = []
    try:
        for name in ("host1", "host2"):
            directory = tmp_path / name
            directory.mkdir()
            hosts.append(FluxServer(directory, dict(env, DATA_DIR=str(directory / "data"))).start())
        http_port, https_port = nginx_site(tmp_path, [host.port for host in hosts])
        command = nginx_command(tmp_path, nginx)
        check = subprocess.run([*command, "-t"], capture_output=True, text=True)
        assert check.returncode == 0, check.stderr
        subprocess.run(command, check=True)
        try:
            wait_for_nginx(tmp_path)
            yield SimpleNamespace(front=f"https://127.0.0.1:{https_port}", hosts=hosts, root=tmp_path)
        finally:
            subprocess.run([*command, "-s", "stop"], capture_output=True)
    finally:
        for host in hosts:
            host.stop()


# MARK: - tests


def test_two_hosts_serve_each_others_files_and_a_host_survives_losing_its_data_dir(two_hosts, seaweedfs):
    first, second = two_hosts.hosts
    front = two_hosts.front
    data_dirs = [two_hosts.root / "host1" / "data", two_hosts.root / "host2" / "data"]

    with step("a client organization signs up through nginx"):
        client = client_account(front, "owner@twohosts.example", verify=False)

    with step("(a) 100 MB sent straight to host 1 downloads identical straight from host 2"):
        direct = os.urandom(LARGE)
        direct_sha = hashlib.sha256(direct).hexdigest()
        created = upload_portal_file(first.url, client, direct, "direct.bin")
        assert created.status_code == 201, created.text
        direct_id = created.json()["id"]
        del direct
        assert downloaded_sha256(f"{second.url}/api/tenants/{client.tenant}/files/{direct_id}/content",
                                 client.bearer) == (200, direct_sha, LARGE)
        assert f"files/{client.tenant}/{direct_id}".lower() in [key.lower() for key in bucket_keys(seaweedfs, "files/")]

    with step("(a) 100 MB sent through nginx downloads identical from each host and through nginx"):
        fronted = os.urandom(LARGE)
        fronted_sha = hashlib.sha256(fronted).hexdigest()
        created = upload_portal_file(front, client, fronted, "through-nginx.bin", verify=False)
        assert created.status_code == 201, created.text
        fronted_id = created.json()["id"]
        del fronted
        # Whichever replica nginx chose, one of these two downloads is from the other host.
        for base in (first.url, second.url):
            assert downloaded_sha256(f"{base}/api/tenants/{client.tenant}/files/{fronted_id}/content",
                                     client.bearer) == (200, fronted_sha, LARGE), base
        assert downloaded_sha256(f"{front}/api/tenants/{client.tenant}/files/{fronted_id}/content", client.bearer,
                                 verify=False) == (200, fronted_sha, LARGE)

    with step("(b) a public upload through host 2 is served by host 1"):
        published = upload(second, 3 * MIB)
        assert published.status_code == 201, published.text
        asset = published.json()["assetId"]
        served = requests.get(f"{first.url}/api/assets/{asset}", timeout=60)
        assert served.status_code == 200 and served.content == video(3 * MIB)

    with step("neither host's DATA_DIR holds a stored or staged file: every byte went to the bucket"):
        assert [large_files(directory) for directory in data_dirs] == [[], []]

    with step("(c) a delete through host 1 is gone through both hosts and from the bucket"):
        deleted = requests.delete(f"{first.url}/api/tenants/{client.tenant}/files/{direct_id}", headers=client.bearer, timeout=30)
        assert deleted.status_code == 204, deleted.text
        for base in (first.url, second.url):
            gone = requests.get(f"{base}/api/tenants/{client.tenant}/files/{direct_id}/content", headers=client.bearer, timeout=30)
            assert gone.status_code == 404, (base, gone.status_code)
        assert file_names(second.url, client) == ["through-nginx.bin"]
        keys = [key.lower() for key in bucket_keys(seaweedfs, "files/")]
        assert f"files/{client.tenant}/{direct_id}".lower() not in keys
        assert f"files/{client.tenant}/{fronted_id}".lower() in keys
        # Completed uploads leave no multipart upload behind (what the other test's last check relies on).
        assert pending_multipart_uploads(seaweedfs, "files/") == []

    with step("(d) host 1 stopped, its DATA_DIR removed entirely, started again with the same settings"):
        assert first.stop() == 0
        shutil.rmtree(data_dirs[0])
        assert not data_dirs[0].exists()
        first.start()
        assert requests.get(first.url + "/api/health", timeout=10).json()["storage"] == "up"

    with step("(d) the restarted host 1 serves every file, as does nginx"):
        assert downloaded_sha256(f"{first.url}/api/tenants/{client.tenant}/files/{fronted_id}/content",
                                 client.bearer) == (200, fronted_sha, LARGE)
        served = requests.get(f"{first.url}/api/assets/{asset}", timeout=60)
        assert served.status_code == 200 and served.content == video(3 * MIB)
        assert file_names(first.url, client) == ["through-nginx.bin"]
        assert downloaded_sha256(f"{front}/api/tenants/{client.tenant}/files/{fronted_id}/content", client.bearer,
                                 verify=False) == (200, fronted_sha, LARGE)
        through_front = requests.get(f"{front}/api/assets/{asset}", verify=False, timeout=60)
        assert through_front.status_code == 200 and through_front.content == video(3 * MIB)
        assert large_files(data_dirs[0]) == []


def test_the_store_killed_in_the_middle_of_an_upload(tmp_path, seaweedfs):
    """SeaweedFS is SIGKILLed once 40 MB of a 100 MB portal upload have been sent (Flux has sent 8 MiB parts of a
    multipart upload by then). The client, reading while it sends as curl and browsers do, gets 503
    storage_unavailable before its body is all sent; no row is written (the list shows nothing new); once the store
    is back Flux uploads again without a restart, and the bucket holds an object for each row and nothing else, so
    there is no orphan object for OrphanObjectCollection to take (that collection only takes objects a day old,
    first pass ten minutes after boot: a test of the binary cannot trigger it; the Swift test
    objectsNoRowNamesAreCollectedOnceADayOld covers it). Last, the interrupted multipart upload itself: Flux's
    abort of it could not reach the dead store, and is sent again once the store answers, freeing its parts."""
    directory = tmp_path / "host"
    directory.mkdir()
    server = FluxServer(directory, flux_env(seaweedfs, DATA_DIR=str(directory / "data"))).start()
    try:
        client = client_account(server.url, "owner@killed-store.example")
        kept = upload_portal_file(server.url, client, os.urandom(2 * MIB), "kept.bin")
        assert kept.status_code == 201, kept.text
        assert file_names(server.url, client) == ["kept.bin"]
        pid = int((seaweedfs["dir"] / "pid").read_text())

        def gone():
            try:
                return "State:\tZ" in pathlib.Path(f"/proc/{pid}/status").read_text()
            except FileNotFoundError:
                return True

        def kill_store():
            os.kill(pid, signal.SIGKILL)
            assert wait_until(gone, 10), "SeaweedFS outlived SIGKILL"

        with step("the store is killed 40 MB into a 100 MB upload: the client gets an error"):
            status, body, sent, waited = upload_reading_early_answers(server, client, os.urandom(LARGE), "cut-off.bin",
                                                                      kill_store, 40 * 1000 * 1000)
            assert status == 503 and "storage_unavailable" in body, (status, body[:300])
            assert sent < LARGE, "Flux answered only once the whole body was sent"
            assert waited < 60, f"the error came {waited:.0f} s after the store died"

        with step("no row: the file list shows nothing new, and Flux still answers"):
            assert server.process.poll() is None, server.log_text()[-2000:]
            assert file_names(server.url, client) == ["kept.bin"]
            assert requests.get(server.url + "/api/health", timeout=10).json()["storage"] == "down"

        with step("the store back, Flux uploads again without a restart"):
            start_store_again(seaweedfs)
            health = wait_until(lambda: requests.get(server.url + "/api/health", timeout=10).json()["storage"], 60, 0.5,
                                enough=lambda value: value == "up")
            assert health == "up"
            again = upload_portal_file(server.url, client, os.urandom(1 * MIB), "after.bin")
            assert again.status_code == 201, again.text
            assert file_names(server.url, client) == ["after.bin", "kept.bin"]

        with step("the bucket holds an object for each row and nothing else: no orphan to collect"):
            rows = {entry["id"].lower() for entry in requests.get(f"{server.url}/api/tenants/{client.tenant}/files",
                                                                   headers=client.bearer, timeout=10).json()["files"]}
            prefix = f"files/{client.tenant}/"
            objects = {key.rsplit("/", 1)[-1].lower() for key in bucket_keys(seaweedfs, prefix)}
            assert objects == rows, (objects, rows)
            assert large_files(directory / "data") == []

        with step("the abort the dead store missed is sent again once it answers: no multipart upload is left"):
            assert wait_until(lambda: pending_multipart_uploads(seaweedfs, prefix) == [], 15, 0.5), \
                pending_multipart_uploads(seaweedfs, prefix)
    finally:
        server.stop()
