"""Public uploads through the real binary, streamed: a large valid video is stored without the process
holding it in memory, and an upload over UPLOAD_MAX_BYTES is refused with 413 without being read whole.
(12 MiB here, since the debug build parses slowly; bench figures use the release build.)"""
import http.client
import uuid

from helpers import clean_env, csrf_session, memory_kib

MIB = 1024 * 1024


def multipart_stream(size, boundary):
    """A multipart body with one `file` part of `size` bytes of MP4, produced in 1 MiB pieces."""
    yield (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"clip.mp4\"\r\n"
           f"Content-Type: video/mp4\r\n\r\n").encode()
    header = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"
    yield header
    left = size - len(header)
    piece = b"\x01" * MIB
    while left > 0:
        yield piece[:min(left, MIB)]
        left -= MIB
    yield f"\r\n--{boundary}--\r\n".encode()


def post(server, size):
    boundary = "b" + uuid.uuid4().hex
    return csrf_session(server).post(server.url + "/api/public-upload", data=multipart_stream(size, boundary), timeout=120,
                                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})


def test_a_large_upload_streams_to_disk(workdir, serve):
    server = serve(env=clean_env(UPLOAD_MAX_BYTES=str(20 * MIB)))
    before = memory_kib(server.process.pid, "VmHWM")
    response = post(server, 12 * MIB)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["contentType"] == "video/mp4" and body["size"] == 12 * MIB
    assert (workdir / "data" / "uploads" / body["assetId"].upper()).stat().st_size == 12 * MIB
    grown = (memory_kib(server.process.pid, "VmHWM") - before) / 1024
    assert grown <= 8, f"peak RSS grew {grown:.1f} MiB for a 12 MiB upload"


def test_an_oversized_upload_is_refused_with_413(workdir, serve):
    """Sent chunked (no Content-Length to refuse up front): Flux counts while it reads and answers 413 at the
    limit. The client may not be able to send the rest; it reads the answer anyway, as browsers do."""
    server = serve(env=clean_env(UPLOAD_MAX_BYTES=str(5 * MIB)))
    token = csrf_session(server).headers["X-CSRF-Token"]
    boundary = "b" + uuid.uuid4().hex
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    connection.putrequest("POST", "/api/public-upload")
    connection.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
    connection.putheader("X-CSRF-Token", token)
    connection.putheader("Cookie", f"csrf={token}")
    connection.putheader("Transfer-Encoding", "chunked")
    connection.endheaders()
    try:
        for piece in multipart_stream(50 * MIB, boundary):
            connection.send(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
        connection.send(b"0\r\n\r\n")
    except OSError:  # a broken pipe, a reset, or a send that blocks because Flux stopped reading
        pass
    response = connection.getresponse()
    assert response.status == 413
    assert b"payload_too_large" in response.read()
    uploads = workdir / "data" / "uploads"
    assert not uploads.exists() or [p for p in uploads.rglob("*") if p.is_file()] == []
