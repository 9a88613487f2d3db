"""
test_archive.py - checks on scripts/make_archive.py and tests/data.

The generated archive is the oracle of the other end-to-end tests (a PHI
search can only fail if the PHI really is in the input; a linkage test is only
right if the CSV says what the truth says), so it is tested here on its own.
None of these tests needs the deidfs binary.
"""

import csv
import filecmp
import io
import json
import os
import warnings

import pydicom
import pytest
from pydicom.errors import InvalidDicomError

from conftest import MAKE_ARCHIVE, run
from phi import assert_no_phi, find_phi, needles

pytestmark = pytest.mark.filterwarnings("error")

MG = "1.2.840.10008.5.1.4.1.1.1.2"


def read(path, **kw):
    # pydicom warns about the deprecated DicomDir class on DICOMDIR reads.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return pydicom.dcmread(path, **kw)


def walk_values(ds):
    """Every (tag, value) in ds, recursively, values as text or bytes."""
    out = []

    def cb(d, elem):
        if elem.VR == "SQ":
            return
        v = elem.value
        if isinstance(v, (bytes, bytearray)):
            out.append((elem.tag, bytes(v)))
        elif isinstance(v, (list, pydicom.multival.MultiValue)):
            out.extend((elem.tag, str(x)) for x in v)
        else:
            out.append((elem.tag, str(v)))
    ds.walk(cb)
    return out


def tree(root):
    """{relative path bytes: file content or None for a directory}."""
    broot = os.fsencode(str(root))
    out = {}
    for dirpath, dirnames, filenames in os.walk(broot):
        for d in dirnames:
            out[os.path.relpath(os.path.join(dirpath, d), broot)] = None
        for f in filenames:
            p = os.path.join(dirpath, f)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, broot)] = fh.read()
    return out


# --- the generator's files ------------------------------------------------

def test_truth_lists_every_file(archive):
    on_disk = {os.fsdecode(p) for p, c in tree(archive.identified).items()
               if c is not None}
    assert on_disk == {f["path"] for f in archive.truth["files"]}


def test_pydicom_reads_every_dicom_file(archive):
    n = 0
    for f in archive.files(pydicom_readable=True):
        ds = read(archive.path(f))
        vals = walk_values(ds)
        assert vals
        if f["kind"] == "dicomdir":
            assert ds.file_meta.MediaStorageSOPClassUID == f["sop_class"]
            continue
        assert ds.SOPInstanceUID == f["sop_uid"]
        assert ds.file_meta.MediaStorageSOPInstanceUID == f["sop_uid"]
        assert ds.SOPClassUID == f["sop_class"]
        assert ds.file_meta.TransferSyntaxUID == f["transfer_syntax"]
        assert ds.StudyInstanceUID == f["study_uid"]
        px = ds.pixel_array
        assert px.shape == (f["rows"], f["cols"])
        n += 1
    assert n >= 40


def test_broken_files_are_broken(archive):
    for f in archive.files(kind="truncated"):
        try:
            ds = read(archive.path(f))
            if "PixelData" in ds:
                ds.pixel_array
        except (ValueError, EOFError, OSError, InvalidDicomError):
            continue
        # pydicom stops quietly at a cut header: the pixel data is gone.
        assert "PixelData" not in ds, f["note"]
    texts = archive.files(kind="text")
    assert len(texts) == 2
    for f in texts:
        with pytest.raises(InvalidDicomError):
            read(archive.path(f))


def test_mg_studies(archive):
    """Each study: one MG series of L CC, L MLO, R CC, R MLO."""
    sops = set()
    for s in archive.truth["studies"]:
        imgs = [f for f in archive.files(study=s["key"], kind="mg")
                if f["series_number"] == 1]
        assert sorted((f["laterality"], f["view"]) for f in imgs) == \
            [("L", "CC"), ("L", "MLO"), ("R", "CC"), ("R", "MLO")]
        for f in imgs:
            ds = read(archive.path(f))
            assert ds.SOPClassUID == MG
            assert ds.Modality == "MG"
            assert ds.PhotometricInterpretation == "MONOCHROME2"
            assert ds.BitsAllocated == 16
            assert ds.PresentationIntentType == "FOR PRESENTATION"
            vc = ds.ViewCodeSequence[0]
            assert vc.CodeMeaning == ("cranio-caudal" if f["view"] == "CC"
                                      else "medio-lateral oblique")
            assert ds.PatientID == s["fnr"]
            assert ds.StudyDate == s["date"]
            for uid in (ds.SOPInstanceUID, ds.SeriesInstanceUID,
                        ds.StudyInstanceUID, ds.FrameOfReferenceUID):
                assert uid in archive.uids
        sops.update(f["sop_uid"] for f in imgs)
    dicom = [f for f in archive.truth["files"] if f["sop_uid"]]
    assert len({f["sop_uid"] for f in dicom}) == len(dicom)


def test_quarantine_cases_present(archive):
    reasons = {}
    for f in archive.quarantined():
        reasons.setdefault(f["reason"], []).append(f)
    assert set(reasons) >= {"burned-in", "protocol", "screen-capture",
                            "modality", "no-modality", "unparseable",
                            "not-dicom", "dicomdir"}
    for f in reasons["burned-in"]:
        assert read(archive.path(f)).BurnedInAnnotation == "YES"
    for f in archive.published():
        assert read(archive.path(f)).BurnedInAnnotation == "NO"
    ds = read(archive.path(reasons["protocol"][0]))
    assert ds.SeriesDescription == "Patient Protocol"
    ds = read(archive.path(reasons["screen-capture"][0]))
    assert "save" in ds.SeriesDescription.lower()
    assert read(archive.path(reasons["modality"][0])).Modality == "CT"
    assert "Modality" not in read(archive.path(reasons["no-modality"][0]))
    assert any(s["all_quarantined"] for s in archive.truth["studies"])
    ot = archive.files(expect="publish-if-OT")
    assert ot and read(archive.path(ot[0])).Modality == "OT"


def test_structure_cases_present(archive):
    t = archive.truth
    assert t["same_month"], "no woman with two studies in one month"
    charsets = {f["charset"] for f in archive.files(kind="mg")}
    assert charsets == {"ISO_IR 100", "ISO_IR 192"}
    syntaxes = {f["transfer_syntax"] for f in archive.files(kind="mg")}
    assert syntaxes == {"1.2.840.10008.1.2", "1.2.840.10008.1.2.1"}
    # A folder name that is Latin-1, not UTF-8, on disk.
    names = [p for p in tree(archive.identified)]
    with pytest.raises(UnicodeDecodeError):
        for p in names:
            p.decode("utf-8")
    assert any(p.count(b"/") >= 6 for p in names), "no deep folder"
    assert any(b" " in p for p in names)
    # Referential integrity: a ReferencedImageSequence to a real image.
    refs = [f for f in t["files"] if f["references"]]
    assert refs
    for f in refs:
        ds = read(archive.path(f))
        target = ds.ReferencedImageSequence[0].ReferencedSOPInstanceUID
        assert target == f["references"]
        assert archive.files(sop_uid=target)
    # Trailing padding after the pixel data, carrying PHI.
    padded = [f for f in t["files"] if f["trailing_padding"]]
    assert padded
    for f in padded:
        ds = read(archive.path(f))
        tags = list(ds.keys())
        assert tags[-1] == 0xFFFCFFFC and tags[-2] == 0x7FE00010
        pad = ds[0xFFFCFFFC].value
        assert find_phi(None, archive.categories["padding"], [pad])
    # Private block, UN value, overlay and a 3-level nested sequence.
    f = archive.files(study=t["studies"][0]["key"], kind="mg",
                      laterality="L", view="CC")[0]
    ds = read(archive.path(f))
    assert ds[0x00290010].value == "NORMAMMO PRIVATE 1.0"
    assert ds[0x00291011].VR == "UN"
    assert 0x60003000 in ds and 0x60000022 in ds
    ctx = ds.RequestAttributesSequence[0].ScheduledProtocolCodeSequence[0] \
        .ProtocolContextSequence[0]
    assert ctx.TextValue in archive.strings
    assert str(ctx.PersonName) in archive.names


def test_every_planted_string_is_in_the_archive(archive):
    """The PHI search can fail: each planted string is really there."""
    want = archive.strings + archive.dates + archive.times
    hits = find_phi(archive.root, want)
    found = {s for _, s in hits}
    missing = [s for s in archive.strings + archive.times if s not in found]
    assert not missing, missing[:20]
    # Dates are listed in three spellings; each date is there in one at least.
    by_date = {}
    for d in archive.dates:
        key = d.replace("-", "") if "-" in d else \
            "".join(reversed(d.split("."))) if "." in d else d
        by_date.setdefault(key, []).append(d)
    missing = [k for k, v in by_date.items() if not found & set(v)]
    assert not missing, missing
    # Each kind of name is planted in file names as well as in the data.
    name_hits = {s for w, s in hits if w.endswith("(name)")}
    for w in archive.truth["women"]:
        assert w["fnr"] in name_hits
        assert w["name"].split("^")[0] in name_hits


def test_planted_strings_are_distinctive(archive):
    """No planted string matches a value that was not planted (so a hit in
    an output always means a leak), and none is too short to grep for."""
    planted = set(archive.strings) | set(archive.dates) | \
        set(archive.times)
    assert all(len(s) >= 6 for s in archive.strings)
    safe = []
    for f in archive.files(pydicom_readable=True):
        if f["kind"] == "dicomdir":
            continue
        ds = read(archive.path(f))
        del ds.PixelData
        for tag, v in walk_values(ds):
            if tag.group in (0x6000, 0xFFFC) or tag.is_private:
                continue
            if isinstance(v, bytes):
                continue
            if v in planted or any(p in v for p in planted):
                continue
            safe.append(("%s %s" % (f["path"], tag), v))
    assert safe
    assert_no_phi(None, archive.strings, safe)


def test_phi_in_both_encodings(archive):
    """Latin-1 women have Latin-1 bytes on disk, UTF-8 women UTF-8 bytes."""
    seen = set()
    for w in archive.truth["women"]:
        enc = "latin-1" if w["charset"] == "ISO_IR 100" else "utf-8"
        other = "utf-8" if enc == "latin-1" else "latin-1"
        name = w["name"].encode(enc)
        f = [f for f in archive.files(woman=w["index"], kind="mg")][0]
        with open(archive.path(f), "rb") as fh:
            data = fh.read()
        assert name in data
        if w["name"].encode(other) != name:
            assert w["name"].encode(other) not in data
            seen.add(enc)
    assert seen == {"latin-1", "utf-8"}


def test_csv(archive):
    with open(archive.csv, "rb") as f:
        raw = f.read()
    text = raw.decode("utf-8")
    assert not text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    header, body = rows[0], rows[1:]
    assert header == archive.truth["csv"]["header"]
    assert len(header) == 11
    assert all(len(r) == 11 for r in body)
    assert any("ø" in c for r in body for c in r)
    truth = archive.truth["csv"]["rows"]
    assert len(truth) == len(body)
    studies = {s["key"]: s for s in archive.truth["studies"]}
    kinds = {}
    for t, r in zip(truth, body):
        kinds.setdefault(t["kind"], []).append((t, r))
        assert r[0] == t["fnr"]
        d, m, y = r[2].split(".")
        if t["kind"] == "bad-screening-date":
            assert t["date"] == "" and (d, m) == ("31", "02")
            continue
        assert y + m + d == t["date"]
        if t["study"]:
            s = studies[t["study"]]
            assert (s["fnr"], s["date"]) == (t["fnr"], t["date"])
            assert s["in_csv"]
    assert set(kinds) == {"linked", "quarantined-study",
                          "bad-diagnosis-date", "unlinked-row",
                          "bad-screening-date"}
    for k in ("quarantined-study", "bad-diagnosis-date", "unlinked-row",
              "bad-screening-date"):
        assert len(kinds[k]) == 1, k
    t, r = kinds["bad-diagnosis-date"][0]
    assert r[9].startswith("31.02.")
    t, r = kinds["quarantined-study"][0]
    assert studies[t["study"]]["all_quarantined"]
    t, r = kinds["unlinked-row"][0]
    assert not any(s["fnr"] == t["fnr"] and s["date"] == t["date"]
                   for s in studies.values())
    # One row per study that exists, except the unlinked study.
    linked = {t["study"] for t in truth if t["study"]}
    unlinked = set(archive.truth["unlinked_studies"])
    assert len(unlinked) == 1
    assert linked | unlinked == set(studies) and not linked & unlinked
    # Every (PatientID, StudyDate) of a linked row is on disk.
    on_disk = set()
    for f in archive.files(kind="mg", pydicom_readable=True):
        ds = read(archive.path(f), stop_before_pixels=True)
        on_disk.add((ds.PatientID, ds.StudyDate))
    for t in truth:
        if t["study"]:
            assert (t["fnr"], t["date"]) in on_disk


def test_deterministic_and_quiet(tmp_path):
    outs = []
    for i in range(2):
        d = tmp_path / ("run%d" % i)
        phi = tmp_path / ("run%d.json" % i)
        r = run("/usr/bin/python3", MAKE_ARCHIVE, d, "--seed", 99,
                "--women", 5, "--rows", 32, "--cols", 48, "--phi-out", phi,
                check=True)
        outs.append((d, phi, r))
    (d0, p0, r0), (d1, p1, r1) = outs
    assert tree(d0) == tree(d1)
    assert filecmp.cmp(p0, p1, shallow=False)
    assert r0.stdout == r1.stdout and r0.stdout.count("\n") == 1

    with open(p0, encoding="utf-8") as f:
        phi = json.load(f)
    assert_no_phi(None, phi["strings"] + phi["dates"],
                  [("stdout", r0.stdout), ("stderr", r0.stderr)])
    # Another seed gives other people.
    d2 = tmp_path / "run2"
    run("/usr/bin/python3", MAKE_ARCHIVE, d2, "--seed", 100, "--women", 5,
        "--rows", 32, "--cols", 48, check=True)
    assert tree(d2) != tree(d0)


def test_generator_refuses_bad_arguments(tmp_path):
    r = run("/usr/bin/python3", MAKE_ARCHIVE, tmp_path / "x", "--women", 2)
    assert r.returncode == 2
    r = run("/usr/bin/python3", MAKE_ARCHIVE, tmp_path / "y", "--rows", 7)
    assert r.returncode == 2


# --- find_phi itself ------------------------------------------------------

def test_find_phi_variants(tmp_path):
    s = ["Bjørnstad^Åshild", "18125900263"]
    d = tmp_path / "t"
    d.mkdir()
    (d / "clean.bin").write_bytes(b"nothing to see" * 100)
    assert find_phi(d, s) == []
    cases = {
        "utf8": "x Bjørnstad^Åshild y".encode("utf-8"),
        "latin1": "Bjørnstad^Åshild".encode("latin-1"),
        "space": "BJØRNSTAD ÅSHILD".encode("latin-1"),
        "given-first": "Åshild Bjørnstad".encode("utf-8"),
        "nfd": "Bjørnstad Åshild".encode("utf-8").replace(
            "Å".encode(), "A\u030a".encode()),
        "id": b"\0\0" + b"18125900263",
    }
    for name, data in cases.items():
        (d / name).write_bytes(data)
    (d / "Kari 18125900263").mkdir()
    latin1_dir = "Bjørnstad, Åshild".encode("latin-1")
    os.mkdir(os.path.join(os.fsencode(str(d)), latin1_dir))
    hits = find_phi(d, s)
    where = {w.split(":")[0] for w, _ in hits}
    assert where == set(cases) | {"Kari 18125900263 (name)",
                                  os.fsdecode(latin1_dir) + " (name)"}
    # Offsets are reported, extra texts are searched and labelled.
    assert ("id:2", "18125900263") in hits
    hits = find_phi(None, s, ["ok", ("stderr", "id 18125900263\n"),
                              b"BJ\xd8RNSTAD^\xc5SHILD"])
    assert hits == [("stderr", "18125900263"), ("extra[2]", s[0])]
    with pytest.raises(AssertionError):
        assert_no_phi(d, s)
    assert len(needles("Bjørnstad^Åshild")) > 4


# --- tests/data -----------------------------------------------------------

def test_tests_data_manifest(tests_data):
    with open(tests_data / "MANIFEST.tsv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    listed = {r["file"] for r in rows}
    on_disk = set()
    total = 0
    for dirpath, _, files in os.walk(tests_data):
        for n in files:
            rel = os.path.relpath(os.path.join(dirpath, n), tests_data)
            total += os.path.getsize(os.path.join(dirpath, n))
            if rel not in ("MANIFEST.tsv", "README.md"):
                on_disk.add(rel)
    # Others may add files to tests/data; everything listed must exist.
    assert listed <= on_disk
    assert total < 6 * 1024 * 1024
    assert {r["licence"] for r in rows} <= {"MIT", "MS-PL"}
    for r in rows:
        assert r["why"] and r["source"] and r["transfer_syntax"]
        p = str(tests_data / r["file"])
        if r["file"].startswith("broken/"):
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(p, force=True)
        assert len(ds) > 0, r["file"]
        ts = r["transfer_syntax"].split(" ")[0]
        if ts.startswith("1.2."):
            assert ds.file_meta.TransferSyntaxUID == ts, r["file"]
