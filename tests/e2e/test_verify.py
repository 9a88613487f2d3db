"""
test_verify.py - `deidfs verify` and `deidfs lookup` (issue 15).

A clean export and a clean mount pass.  Each kind of leak is planted into a
copy of a clean export (a restored PatientName, a personal ID in a private
tag, a date in a folder name, a UID left unreplaced, a name in the CSV, an
extra file, a truncated file, changed pixel bytes), and verify fails on
each with a finding of that kind at that path; its stdout, stderr and
report hold none of the planted strings.  lookup answers both ways.

What is planted is read from the archive's truth and from the db (sqlite3,
not deidfs), never copied from verify's output.
"""

import csv
import datetime
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys

import pydicom
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from conftest import Mount, _fuse_usable, run  # noqa: E402
from phi import find_phi  # noqa: E402

needs_fuse = pytest.mark.skipif(_fuse_usable() is not None,
                                reason=_fuse_usable() or "")


class Clean:
    """One export of the session archive, with its db."""


@pytest.fixture(scope="module")
def clean(deidfs, archive, tmp_path_factory):
    c = Clean()
    base = tmp_path_factory.mktemp("verify")
    c.db = base / "p.db"
    c.out = base / "out"
    run(deidfs, "export", "-q", "--db", c.db, "--csv", archive.csv,
        archive.identified, c.out, check=True)
    con = sqlite3.connect(str(c.db))
    c.rows = con.execute(
        "SELECT view_path, patient_id, pseudonym, path FROM files "
        "WHERE view_path IS NOT NULL AND view_path NOT LIKE '.quarantine/%' "
        "AND view_path LIKE '%.dcm' ORDER BY view_path").fetchall()
    con.close()
    assert c.rows
    c.women = {w["fnr"]: w for w in archive.truth["women"]}
    c.src = {f["path"]: f for f in archive.truth["files"]}
    return c


def verify(deidfs, db, dataset, tmp_path, *extra):
    rep = tmp_path / "report.json"
    r = run(deidfs, "verify", "--db", db, "--report", rep, *extra, dataset)
    with open(rep, encoding="utf-8") as f:
        report = json.load(f)
    return r, report, rep


def assert_no_phi(archive, r, rep):
    hits = find_phi(str(rep), archive.strings,
                    extra_texts=[("stdout", r.stdout), ("stderr", r.stderr)])
    assert not hits, hits[:5]


def findings(report, kind=None, path=None):
    return [f for f in report["findings"]
            if (kind is None or f["kind"] == kind) and
            (path is None or f["path"] == path) and not f["review"]]


@pytest.fixture
def leaky(clean, tmp_path):
    """A private copy of the clean export to plant a leak in."""
    dst = tmp_path / "copy"
    shutil.copytree(str(clean.out), str(dst))
    return dst


def a_file(clean, kind="mg"):
    """(view path, woman, source truth record) of a published image."""
    for vp, pid, pseud, src in clean.rows:
        f = clean.src.get(os.fsdecode(src) if isinstance(src, bytes)
                          else src)
        if f and f["kind"] == kind and pid in clean.women:
            return vp, clean.women[pid], f
    raise AssertionError("no published %s file" % kind)


def test_clean_export_passes(deidfs, archive, clean, tmp_path):
    r, report, rep = verify(deidfs, clean.db, clean.out, tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert report["result"] == "pass"
    assert not findings(report)
    c = report["counts"]
    # every published file was read, compared with its source and listed
    assert c["dicom_compared_with_view"] == len(clean.rows)
    assert len(report["manifest"]) == c["files_expected"] == \
        c["files_checked"]
    assert c["patterns"] > 0 and c["values"]["person-name"] > 0
    for m in report["manifest"]:
        assert len(m["sha256"]) == 64
    # dciodvfy ran on every published file and its source, and found
    # nothing new (the installed oracle is not optional in CI)
    if shutil.which("dciodvfy"):
        assert report["options"]["dciodvfy"] == "run"
        assert c["dciodvfy_files"] == len(clean.rows)
    # a keyed fingerprint, never the key
    con = sqlite3.connect(str(clean.db))
    key = con.execute("SELECT v FROM meta WHERE k = 'key'").fetchone()[0]
    con.close()
    assert key.hex()[:32] != report["key_fingerprint"]
    assert report["key_fingerprint"] not in key.hex()
    assert_no_phi(archive, r, rep)


def test_manifest_is_every_file_sha256(deidfs, clean, tmp_path):
    """The manifest lists every file of the export with the SHA-256 that
    hashlib computes, however many files a worker reads and hashes at once
    (one worker reads up to sixteen together without dciodvfy)."""
    want = {}
    for root, _, files in os.walk(str(clean.out)):
        for name in files:
            p = os.path.join(root, name)
            with open(p, "rb") as f:
                data = f.read()
            want[os.path.relpath(p, str(clean.out))] = \
                (len(data), hashlib.sha256(data).hexdigest())
    assert len(want) > 16
    for extra in (["-j", "1", "--no-dciodvfy"], ["-j", "3", "--no-dciodvfy"],
                  ["-j", "2"]):
        r, report, _ = verify(deidfs, clean.db, clean.out, tmp_path, *extra)
        assert r.returncode == 0, r.stdout + r.stderr
        got = {m["path"]: (m["size"], m["sha256"])
               for m in report["manifest"]}
        assert got == want, extra


@needs_fuse
def test_clean_mount_passes(deidfs, archive, clean, tmp_path):
    with Mount(deidfs, archive.identified, tmp_path / "mnt", clean.db,
               csv=archive.csv, opts=["--no-refresh"]):
        r, report, rep = verify(deidfs, clean.db, tmp_path / "mnt",
                                tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert report["options"]["quarantine_checked"] is True
    assert not findings(report)
    assert report["counts"]["dicom_compared_with_view"] > len(clean.rows)
    assert_no_phi(archive, r, rep)


def test_restored_patient_name(deidfs, archive, clean, leaky, tmp_path):
    vp, woman, _ = a_file(clean)
    ds = pydicom.dcmread(str(leaky / vp))
    ds.PatientName = woman["name"]
    ds.save_as(str(leaky / vp))
    r, report, rep = verify(deidfs, clean.db, leaky, tmp_path)
    assert r.returncode == 1
    hit = findings(report, "person-name", vp)
    assert [f["tag"] for f in hit] == ["(0010,0010)"]
    assert findings(report, "header-differs", vp)
    assert "person-name" in r.stdout and vp in r.stdout
    assert_no_phi(archive, r, rep)


def test_personal_id_in_a_private_tag(deidfs, archive, clean, leaky,
                                      tmp_path):
    vp, woman, _ = a_file(clean)
    ds = pydicom.dcmread(str(leaky / vp))
    block = ds.private_block(0x0009, "SOME VENDOR", create=True)
    block.add_new(0x10, "LO", woman["fnr"])
    ds.save_as(str(leaky / vp))
    r, report, rep = verify(deidfs, clean.db, leaky, tmp_path)
    assert r.returncode == 1
    tags = [f["tag"] for f in findings(report, "patient-id", vp)]
    assert "(0009,1010)" in tags
    assert_no_phi(archive, r, rep)


def test_date_in_a_folder_name(deidfs, archive, clean, leaky, tmp_path):
    vp, woman, f = a_file(clean)
    study = [s for s in archive.truth["studies"] if s["key"] == f["study"]]
    d = datetime.datetime.strptime(study[0]["date"], "%Y%m%d")
    patient = vp.split("/")[0]
    month = vp.split("/")[1]
    os.rename(str(leaky / patient / month),
              str(leaky / patient / d.strftime("%d.%m.%Y")))
    r, report, rep = verify(deidfs, clean.db, leaky, tmp_path)
    assert r.returncode == 1
    dated = findings(report, "date", patient)
    assert dated and dated[0]["tag"] == "name"
    assert dated[0]["in_view"] is False
    assert findings(report, "missing", patient + "/" + month)
    # the folder's name is withheld: the date is not printed
    assert d.strftime("%d.%m.%Y") not in r.stdout + rep.read_text()
    assert_no_phi(archive, r, rep)


def test_uid_left_unreplaced(deidfs, archive, clean, leaky, tmp_path):
    vp, woman, f = a_file(clean)
    ds = pydicom.dcmread(str(leaky / vp))
    ds.StudyInstanceUID = f["study_uid"]
    ds.save_as(str(leaky / vp))
    r, report, rep = verify(deidfs, clean.db, leaky, tmp_path)
    assert r.returncode == 1
    tags = {(x["kind"], x["tag"]) for x in findings(report, path=vp)}
    assert ("original-uid", "(0020,000D)") in tags
    assert f["study_uid"] not in r.stdout + rep.read_text()
    assert_no_phi(archive, r, rep)


def test_name_in_the_csv(deidfs, archive, clean, leaky, tmp_path):
    _, woman, _ = a_file(clean)
    family = woman["name"].split("^")[0]
    csv = leaky / "cleaned_variables.csv"
    lines = csv.read_bytes().split(b"\n")
    lines[1] = lines[1] + b" " + family.encode("utf-8")
    csv.write_bytes(b"\n".join(lines))
    r, report, rep = verify(deidfs, clean.db, leaky, tmp_path)
    assert r.returncode == 1
    kinds = {x["kind"] for x in findings(report, path="cleaned_variables.csv")}
    assert "name-part" in kinds and "content-differs" in kinds
    assert_no_phi(archive, r, rep)


def test_registry_value_only_in_the_csv(deidfs, archive, clean, leaky,
                                        tmp_path):
    """An invitation number (column 2 of the registry CSV, which the
    cleaned CSV drops and no header holds) planted in the cleaned CSV and
    in a private tag: found, because the export recorded the registry's
    identifying cells in the db."""
    vp, woman, _ = a_file(clean)
    with open(str(archive.csv), encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f, delimiter=";"))
    inv = [r[1].strip() for r in rows[1:]
           if len(r) > 2 and r[0].strip() == woman["fnr"] and r[1].strip()]
    assert inv
    inv = inv[0]
    # nowhere but in the CSV: not a header's original, not an ID
    con = sqlite3.connect(str(clean.db))
    assert con.execute("SELECT count(*) FROM audit WHERE instr(old, ?)",
                       (inv.encode(),)).fetchone()[0] == 0
    assert con.execute("SELECT count(*) FROM registry_values WHERE "
                       "kind = 3 AND value = ?",
                       (inv.encode(),)).fetchone()[0] == 1
    con.close()
    out = leaky / "cleaned_variables.csv"
    lines = out.read_bytes().split(b"\n")
    lines[1] = lines[1] + b" ref " + inv.encode()
    out.write_bytes(b"\n".join(lines))
    ds = pydicom.dcmread(str(leaky / vp))
    block = ds.private_block(0x0009, "SOME VENDOR", create=True)
    block.add_new(0x10, "LO", "inv " + inv)
    ds.save_as(str(leaky / vp))
    r, report, rep = verify(deidfs, clean.db, leaky, tmp_path)
    assert r.returncode == 1
    assert findings(report, "registry-value", "cleaned_variables.csv")
    assert [f["tag"] for f in findings(report, "registry-value", vp)] == \
        ["(0009,1010)"]
    assert report["counts"]["values"]["registry-value"] > 0
    assert inv not in r.stdout + rep.read_text()
    assert_no_phi(archive, r, rep)


def test_extra_file(deidfs, archive, clean, leaky, tmp_path):
    vp, _, _ = a_file(clean)
    folder = os.path.dirname(vp)
    shutil.copyfile(str(leaky / vp), str(leaky / folder / "copy.dcm"))
    (leaky / ".deidfs-17.tmp").write_bytes(b"half a file")
    r, report, rep = verify(deidfs, clean.db, leaky, tmp_path)
    assert r.returncode == 1
    extra = findings(report, "extra", folder)
    assert extra and extra[0]["in_view"] is False
    assert findings(report, "stray-tmp", "")
    assert "copy.dcm" not in r.stdout + rep.read_text()
    assert_no_phi(archive, r, rep)


def test_truncated_file(deidfs, archive, clean, leaky, tmp_path):
    vp, _, _ = a_file(clean)
    size = os.path.getsize(str(leaky / vp))
    os.truncate(str(leaky / vp), size // 2)
    r, report, rep = verify(deidfs, clean.db, leaky, tmp_path)
    assert r.returncode == 1
    kinds = {x["kind"] for x in findings(report, path=vp)}
    assert "size-differs" in kinds
    assert_no_phi(archive, r, rep)


def test_changed_pixel_bytes(deidfs, archive, clean, leaky, tmp_path):
    vp, _, _ = a_file(clean)
    p = leaky / vp
    data = bytearray(p.read_bytes())
    data[-3] ^= 0x01
    p.write_bytes(bytes(data))
    r, report, rep = verify(deidfs, clean.db, leaky, tmp_path)
    assert r.returncode == 1
    assert [x["kind"] for x in findings(report, path=vp)] == \
        ["pixel-differs"]
    assert_no_phi(archive, r, rep)


needs_dciodvfy = pytest.mark.skipif(shutil.which("dciodvfy") is None,
                                    reason="dciodvfy (dicom3tools) is "
                                    "not installed")


def oracle_findings(report, path):
    return {(f["kind"], f["tag"]) for f in findings(report, path=path)
            if f["kind"].startswith("dciodvfy")}


@needs_dciodvfy
def test_dciodvfy_finds_an_iod_error_the_source_lacks(
        deidfs, archive, clean, leaky, tmp_path):
    """A Type 1 attribute its source has (Modality) removed from one
    published file, the pixel data untouched: dciodvfy's new error is a
    finding at its tag; with --no-dciodvfy it is not looked for."""
    vp, _, _ = a_file(clean)
    ds = pydicom.dcmread(str(leaky / vp))
    del ds.Modality
    ds.save_as(str(leaky / vp))
    r, report, rep = verify(deidfs, clean.db, leaky, tmp_path)
    assert r.returncode == 1
    assert ("dciodvfy-error:missing-attribute", "(0008,0060)") in \
        oracle_findings(report, vp), report["findings"]
    assert not findings(report, "pixel-differs", vp)
    # no other file has a dciodvfy finding
    assert {f["path"] for f in report["findings"]
            if f["kind"].startswith("dciodvfy")} == {vp}
    assert_no_phi(archive, r, rep)
    r, report, rep = verify(deidfs, clean.db, leaky, tmp_path,
                            "--no-dciodvfy")
    assert r.returncode == 1         # the header still differs
    assert report["options"]["dciodvfy"].startswith("off")
    assert not oracle_findings(report, vp)
    assert report["counts"]["dciodvfy_files"] == 0


@needs_dciodvfy
def test_dciodvfy_messages_quote_no_value_in_verify(
        deidfs, archive, clean, leaky, tmp_path):
    """dciodvfy quotes the values it complains of: a woman's family name
    and personal ID planted as values it rejects reach its output, never
    verify's (a tag and a fixed class only)."""
    vp, woman, _ = a_file(clean)
    family = woman["name"].split("^")[0]
    ds = pydicom.dcmread(str(leaky / vp))
    cfg = pydicom.config.settings
    saved = cfg.reading_validation_mode, cfg.writing_validation_mode
    cfg.reading_validation_mode = cfg.writing_validation_mode = \
        pydicom.config.IGNORE     # invalid on purpose
    try:
        ds.PatientSex = family.upper()
        ds.add_new(0x00080023, "DA", woman["fnr"])      # Content Date
        ds.save_as(str(leaky / vp))
    finally:
        cfg.reading_validation_mode, cfg.writing_validation_mode = saved
    r, report, rep = verify(deidfs, clean.db, leaky, tmp_path)
    assert r.returncode == 1
    tags = {t for _, t in oracle_findings(report, vp)}
    assert "(0010,0040)" in tags and "(0008,0023)" in tags, tags
    assert_no_phi(archive, r, rep)
    for f in report["findings"]:
        assert family.upper() not in f["kind"] + f["tag"]


def test_dciodvfy_absent_is_said(deidfs, archive, clean, tmp_path):
    env = dict(os.environ, PATH="/nonexistent")
    rep = tmp_path / "report.json"
    r = run(deidfs, "verify", "--db", clean.db, "--report", rep, clean.out,
            env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    report = json.loads(rep.read_text())
    assert report["options"]["dciodvfy"].startswith("skipped")
    assert "dciodvfy: skipped" in r.stdout


def test_jobs_do_not_change_the_report(deidfs, clean, leaky, tmp_path):
    """Findings come in the walk's order whatever worker checked what."""
    vp, _, _ = a_file(clean)
    for v in [row[0] for row in clean.rows[::3]]:
        p = leaky / v
        data = bytearray(p.read_bytes())
        data[-1] ^= 0x40
        p.write_bytes(bytes(data))
    (leaky / os.path.dirname(vp) / "stray.tmp").write_bytes(b"x")
    out = []
    for j in ("1", "2", "7"):
        r, report, _ = verify(deidfs, clean.db, leaky, tmp_path, "-j", j,
                              "--no-dciodvfy")
        assert r.returncode == 1
        assert report["options"]["jobs"] == int(j)
        out.append((report["findings"], report["manifest"],
                    report["counts"]))
    assert out[0] == out[1] == out[2]
    assert len(findings({"findings": out[0][0]}, "pixel-differs")) == \
        len(clean.rows[::3])


def limited(deidfs, db, dataset, tmp_path, nofile, *extra):
    """verify under RLIMIT_NOFILE nofile (soft and hard), its peak RSS (KiB)
    read by a python parent of its own, so no other child counts."""
    rep = tmp_path / "report.json"
    probe = (
        "import resource, subprocess, sys\n"
        "n = int(sys.argv[1])\n"
        "r = subprocess.run(sys.argv[2:], capture_output=True, text=True,"
        " preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE,"
        " (n, n)))\n"
        "sys.stdout.write(r.stdout)\n"
        "sys.stderr.write(r.stderr)\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
        "sys.exit(r.returncode)\n")
    cmd = [sys.executable, "-c", probe, str(nofile), str(deidfs), "verify",
           "--db", str(db), "--report", str(rep)] + list(extra) + \
        [str(dataset)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    report = None
    if rep.exists():
        with open(rep, encoding="utf-8") as f:
            report = json.load(f)
        rep.unlink()
    return r, report, int(r.stdout.split()[-1])


def test_few_descriptors_never_make_findings(deidfs, clean, tmp_path):
    """Each worker reads up to sixteen files at once, each with its source
    open: under a low file limit verify reads fewer at once, and when even
    that cannot be, it stops with the cause; it never reports a clean file
    as unreadable (the review of issue 15's sixteen-file workers)."""
    for nofile, j in ((32, "1"), (32, "4"), (64, "4"), (24, "2")):
        r, report, _ = limited(deidfs, clean.db, clean.out, tmp_path,
                               nofile, "-j", j, "--no-dciodvfy")
        assert r.returncode == 0, (nofile, j, r.stderr)
        assert not report["findings"], (nofile, j)
    # fewer still, down to too few for even one file and its source: a
    # pass, or the cause and no report; never a finding
    stopped = 0
    for nofile in range(6, 17):
        r, report, _ = limited(deidfs, clean.db, clean.out, tmp_path,
                               nofile, "-j", "2", "--no-dciodvfy")
        if r.returncode == 0:
            assert not report["findings"], nofile
            continue
        assert r.returncode == 1 and report is None, (nofile, r.stderr)
        assert "Too many open files" in r.stderr, (nofile, r.stderr)
        stopped += "out of file descriptors" in r.stderr
    assert stopped


def test_many_jobs_cost_what_they_use(deidfs, clean, tmp_path):
    """-j 256 on a small export: the slots no file reaches take no buffers
    (16 slots of 256 KiB each, for 256 workers, would be 1 GiB)."""
    r, report, rss = limited(deidfs, clean.db, clean.out, tmp_path, 4096,
                             "-j", "256", "--no-dciodvfy")
    assert r.returncode == 0, r.stderr
    assert not report["findings"]
    assert rss < 256 * 1024, rss


def test_csv_out_fifo_does_not_hang(deidfs, clean, tmp_path):
    """A FIFO given as --csv-out is not a file: a finding, not a wait for a
    writer that never comes."""
    fifo = tmp_path / "fifo.csv"
    os.mkfifo(str(fifo))
    csvs = [p for p in os.listdir(str(clean.out)) if p.endswith(".csv")]
    assert csvs
    copy = tmp_path / "nocsv"
    shutil.copytree(str(clean.out), str(copy))
    for c in csvs:
        os.unlink(str(copy / c))
    rep = tmp_path / "report.json"
    r = subprocess.run([str(deidfs), "verify", "--db", str(clean.db),
                        "--csv-out", str(fifo), "--report", str(rep),
                        "--no-dciodvfy", str(copy)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1, r.stderr
    with open(rep, encoding="utf-8") as f:
        report = json.load(f)
    assert findings(report, "unreadable")


def deflated_bomb(values, size):
    """A deflated explicit-VR DICOM file: a few KiB on disk, its header
    `values` private OB values of `size` bytes each once inflated, and no
    Pixel Data (so verify counts its header as the file's size)."""
    import struct
    import zlib

    def el(group, elem, vr, val):
        if vr in (b"OB", b"OW", b"UN", b"SQ", b"UT"):
            return struct.pack("<HH2sHI", group, elem, vr, 0, len(val)) + val
        return struct.pack("<HH2sH", group, elem, vr, len(val)) + val

    def ui(s):
        b = s.encode()
        return b + b"\0" * (len(b) & 1)

    meta = el(2, 1, b"OB", b"\0\1") + \
        el(2, 2, b"UI", ui("1.2.840.10008.5.1.4.1.1.7")) + \
        el(2, 3, b"UI", ui("1.2.3.4.5.6.7")) + \
        el(2, 0x10, b"UI", ui("1.2.840.10008.1.2.1.99"))
    meta = el(2, 0, b"UL", struct.pack("<I", len(meta))) + meta
    ds = el(8, 0x16, b"UI", ui("1.2.840.10008.5.1.4.1.1.7")) + \
        el(8, 0x18, b"UI", ui("1.2.3.4.5.6.7")) + \
        el(9, 0x10, b"LO", b"BOMB")
    z = zlib.compressobj(9, zlib.DEFLATED, -15)
    body = z.compress(ds)
    zero = b"\0" * (1 << 20)
    for i in range(values):
        body += z.compress(struct.pack("<HH2sHI", 9, 0x1000 + i, b"OB", 0,
                                       size))
        for _ in range(size >> 20):
            body += z.compress(zero)
    body += z.flush()
    return b"\0" * 128 + b"DICM" + meta + body


def test_inflated_headers_count_at_their_inflated_size(deidfs, clean,
                                                       leaky, tmp_path):
    """A worker takes no new file while its open files' parsed headers hold
    64 MiB, counted as the parser holds them: a deflated header of a few
    KiB on disk that inflates to 120 MiB counts 120 MiB, so sixteen such
    files are not held at once (they were: 2 GB; the second review of
    issue 15's sixteen-file workers)."""
    bomb = deflated_bomb(2, 60 << 20)
    n = 0
    for vp, _, _, _ in clean.rows[:16]:
        with open(str(leaky / vp), "wb") as f:
            f.write(bomb)
        n += 1
    r, report, rss = limited(deidfs, clean.db, leaky, tmp_path, 4096,
                             "-j", "1", "--no-dciodvfy")
    assert report is not None, r.stderr
    assert not findings(report, "unparseable"), "the bomb did not parse"
    # HELD_MAX (64 MiB) plus one header (256 MiB at most) plus the rest
    assert rss < 512 * 1024, (n, rss)


@needs_dciodvfy
def test_few_descriptors_with_dciodvfy_never_make_findings(deidfs, clean,
                                                           tmp_path):
    """With dciodvfy on, too few descriptors to start it stop the run with
    the cause, never a "dciodvfy-not-run" finding of a clean file."""
    bad, stopped = [], 0
    for nofile in range(8, 20):
        r, report, _ = limited(deidfs, clean.db, clean.out, tmp_path,
                               nofile, "-j", "2")
        if r.returncode == 0:
            assert not report["findings"], nofile
            continue
        if report is not None and report["findings"]:
            bad.append((nofile, sorted({f["kind"]
                                        for f in report["findings"]})))
        stopped += "out of file descriptors" in r.stderr
    assert not bad, bad
    assert stopped


def test_usage_and_no_db(deidfs, clean, tmp_path):
    assert run(deidfs, "verify", clean.out).returncode == 2
    assert run(deidfs, "verify", "--db", clean.db).returncode == 2
    for bad in ("0", "x", "257"):
        assert run(deidfs, "verify", "--db", clean.db, "-j", bad,
                   clean.out).returncode == 2
    r = run(deidfs, "verify", "--db", tmp_path / "none.db", clean.out)
    assert r.returncode == 1 and not (tmp_path / "none.db").exists()


# ------------------------------------------------------------------ lookup

def lookup(deidfs, db, q):
    """lookup prints identifying values on purpose: run outside run(), so
    the session's PHI check does not take its stdout for a leak."""
    p = subprocess.run([deidfs, "lookup", "--db", str(db), q],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return p.returncode, p.stdout.decode("utf-8", "surrogateescape"), \
        p.stderr.decode("utf-8", "surrogateescape")


def fields(text):
    return dict(line.split(": ", 1) for line in text.splitlines()
                if ": " in line)


def test_lookup_both_ways(deidfs, clean):
    vp, woman, _ = a_file(clean)
    pseud = vp.split("/")[0]
    # pseudonym -> identity
    rc, out, err = lookup(deidfs, clean.db, pseud)
    assert rc == 0, err
    assert fields(out)["personal id"] == woman["fnr"]
    assert "name" in fields(out)
    # personal ID -> pseudonym
    rc, out, err = lookup(deidfs, clean.db, woman["fnr"])
    assert rc == 0, err
    assert fields(out)["pseudonym"] == pseud
    assert fields(out)["in this db"] == "yes"
    # view path -> identity
    rc, out, err = lookup(deidfs, clean.db, vp)
    assert rc == 0, err
    assert fields(out)["personal id"] == woman["fnr"]
    assert fields(out)["pseudonym"] == pseud
    # unknown
    rc, out, err = lookup(deidfs, clean.db, "aaaaaaaaaaaaaaaa")
    assert rc == 1 and not out
    assert woman["fnr"] not in err
