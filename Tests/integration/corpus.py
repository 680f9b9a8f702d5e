"""Builds file corpora for the upload type check: real files of every accepted type, made with Pillow and
ffmpeg (from the imageio-ffmpeg wheel) in many variants, and spoofs that must all be refused."""
import io
import pathlib
import random
import shutil
import subprocess

import imageio_ffmpeg
from PIL import Image, ImageDraw


def _picture(rng, size, mode="RGB"):
    image = Image.new("RGB", size, tuple(rng.randrange(256) for _ in range(3)))
    draw = ImageDraw.Draw(image)
    for _ in range(rng.randrange(3, 30)):
        box = sorted(rng.randrange(size[0]) for _ in range(2)), sorted(rng.randrange(size[1]) for _ in range(2))
        draw.rectangle((box[0][0], box[1][0], box[0][1], box[1][1]), fill=tuple(rng.randrange(256) for _ in range(3)))
    return image.convert(mode)


def make_real_corpus(directory: pathlib.Path, per_type: int = 40, seed: int = 7):
    """Writes files named `<n>.<ext>` and returns how many."""
    rng = random.Random(seed)
    directory.mkdir(parents=True, exist_ok=True)
    count = 0
    for index in range(per_type):
        size = (rng.randrange(1, 900), rng.randrange(1, 700))
        picture = _picture(rng, size)
        picture.save(directory / f"{index}-q.jpg", quality=rng.randrange(10, 100),
                     progressive=index % 2 == 0, optimize=index % 3 == 0)
        _picture(rng, size, ["RGB", "RGBA", "L", "P", "1"][index % 5]).save(directory / f"{index}.png",
                                                                            interlace=index % 4 == 0)
        frames = [_picture(rng, size, "P") for _ in range(1 + index % 4)]
        frames[0].save(directory / f"{index}.gif", save_all=True, append_images=frames[1:], duration=80)
        webp_frames = [_picture(rng, size) for _ in range(1 + index % 3)]
        webp_frames[0].save(directory / f"{index}.webp", lossless=index % 2 == 1, quality=rng.randrange(5, 100),
                            save_all=len(webp_frames) > 1, append_images=webp_frames[1:])
        _picture(rng, size).save(directory / f"{index}.pdf", resolution=rng.choice([72, 150, 300]))
        count += 5
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    variants = [
        ("mp4", ["-c:v", "libx264", "-pix_fmt", "yuv420p"]),
        ("mp4", ["-c:v", "mpeg4", "-brand", "mp42"]),
        ("mp4", ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-movflags", "+faststart"]),
        ("mov", ["-c:v", "mpeg4", "-f", "mov"]),
        ("mov", ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-f", "mov"]),
        ("m4v", ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-f", "ipod"]),
    ]
    for index in range(per_type):
        extension, arguments = variants[index % len(variants)]
        width, height = rng.randrange(16, 320, 2), rng.randrange(16, 240, 2)
        target = directory / f"v{index}.{extension}"
        subprocess.run([ffmpeg, "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                        f"testsrc=size={width}x{height}:rate={rng.choice([10, 25, 30])}:duration={rng.choice([0.2, 0.5, 1])}",
                        *arguments, str(target)], check=True)
        count += 1
    return count


SVG_SCRIPT = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def make_spoof_corpus(directory: pathlib.Path):
    """Content that must never pass as an accepted type, whatever its name says."""
    directory.mkdir(parents=True, exist_ok=True)
    tiny_gif = io.BytesIO()
    Image.new("P", (1, 1)).save(tiny_gif, "GIF")
    tiny_png = io.BytesIO()
    Image.new("RGB", (1, 1)).save(tiny_png, "PNG")
    tiny_jpeg = io.BytesIO()
    Image.new("RGB", (8, 8)).save(tiny_jpeg, "JPEG")
    jpeg = tiny_jpeg.getvalue()
    spoofs = {
        "page.html.png": b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>",
        "page-upper.jpg": b"<HTML><SCRIPT>alert(1)</SCRIPT></HTML>",
        "vector.svg.jpg": SVG_SCRIPT,
        "vector-xml.png": b'<?xml version="1.0"?>' + SVG_SCRIPT,
        "shell.php.gif": b"<?php system($_GET['c']); ?>",
        "shell-gif-header.gif": b"GIF89a<?php system($_GET['c']); ?>",
        "polyglot-gif-script.gif": tiny_gif.getvalue()[:-1] + b"/*<script>alert(1)</script>*/;",
        "polyglot-png-html.png": tiny_png.getvalue() + b"<html><script>alert(1)</script></html>",
        "polyglot-jpeg-comment.jpg": jpeg[:2] + b"\xff\xfe\x00\x20<script>alert(1)</script>xxxxx" + jpeg[2:],
        "polyglot-pdf-html.pdf": b"%PDF-1.4\n<html><body onload=alert(1)></body></html>",
        "javascript-url.gif": b"GIF89a\x01\x00\x01\x00javascript:alert(1)",
        "truncated-png.png": PNG_SIGNATURE,
        "truncated-png-ihdr.png": PNG_SIGNATURE + b"\x00\x00\x00\x0dIHDR",
        "truncated-jpeg.jpg": b"\xff\xd8\xff",
        "truncated-gif.gif": b"GIF89a",
        "truncated-webp.webp": b"RIFF\x10\x00\x00\x00WEBP",
        "truncated-mp4.mp4": b"\x00\x00\x00\x18ftyp",
        "empty.png": b"",
        "one-byte.jpg": b"\xff",
        "wav-as-webp.webp": b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00" + bytes(20),
        "zip-as-pdf.pdf": b"PK\x03\x04" + bytes(40),
        "elf-as-png.png": pathlib.Path(shutil.which("true")).read_bytes()[:8192],
        "mp4-unknown-brand.mp4": b"\x00\x00\x00\x18ftypevil\x00\x00\x00\x00evilisom" + bytes(16),
        "ftyp-zero-size.mp4": b"\x00\x00\x00\x00ftypisom" + bytes(16),
        "text.pdf": b"just some text pretending to be a document",
        "bmp.png": b"BM" + bytes(60),
        "tiff.jpg": b"II*\x00" + bytes(60),
    }
    for name, content in spoofs.items():
        (directory / name).write_bytes(content)
    return spoofs
