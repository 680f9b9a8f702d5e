"""File type by content (FluxSecurity's FileTypeDetector, through `flux filetype`): real files agree with
libmagic, and every spoof is refused."""
import subprocess

from corpus import make_real_corpus, make_spoof_corpus
from helpers import clean_env, run_flux


def detect(directory, workdir):
    result = run_flux(["filetype", str(directory)], clean_env(), workdir, timeout=300)
    lines = [line.split("\t") for line in result.stdout.splitlines() if "\t" in line]
    return result.returncode, {path.rsplit("/", 1)[1]: verdict for path, verdict in lines}


def libmagic(path):
    return subprocess.run(["file", "--brief", "--mime-type", str(path)], capture_output=True, text=True, check=True).stdout.strip()


ACCEPTED = {"image/jpeg", "image/png", "image/webp", "image/gif", "video/mp4", "video/quicktime", "application/pdf"}


def expected(path):
    """libmagic's verdict in Flux's terms: its media type when Flux accepts that type, else `rejected`."""
    mime = libmagic(path)
    return mime if mime in ACCEPTED else "rejected"


def test_real_files_agree_with_libmagic(workdir):
    corpus = workdir / "real"
    total = make_real_corpus(corpus)
    code, verdicts = detect(corpus, workdir)
    assert len(verdicts) == total
    disagreements = {name: (verdict, libmagic(corpus / name)) for name, verdict in verdicts.items()
                     if verdict != expected(corpus / name)}
    agreement = 1 - len(disagreements) / total
    print(f"file type agreement with libmagic: {agreement:.1%} of {total} files; disagreements: {disagreements}")
    assert agreement >= 0.99, disagreements
    assert code == (0 if all(v != "rejected" for v in verdicts.values()) else 1)


def test_every_spoof_is_refused(workdir):
    corpus = workdir / "spoofs"
    spoofs = make_spoof_corpus(corpus)
    code, verdicts = detect(corpus, workdir)
    assert set(verdicts) == set(spoofs)
    accepted = {name: verdict for name, verdict in verdicts.items() if verdict != "rejected"}
    assert accepted == {}
    assert code != 0
