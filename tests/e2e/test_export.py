"""
test_export.py - `deidfs export` end to end, with pydicom, dcmtk and
dciodvfy as independent oracles.
"""

import csv
import datetime
import hashlib
import io
import json
import os
import pathlib
import re
import shutil
import signal
import sqlite3
import stat
import subprocess
import time

import pydicom
import pytest

from conftest import decoded_pixels, run
from phi import find_phi

REASON = {
    "burned-in": "burned-in-annotation",
    "protocol": "patient-protocol",
    "screen-capture": "screen-capture",
    "modality": "modality-not-allowed",
    "no-modality": "modality-missing",
    "unparseable": "unparseable",
    "not-dicom": "not-dicom",
}


def published(archive):
    """Files a correct de-identifier publishes with the default modality
    list MG,OT (the OT secondary capture included)."""
    return [f for f in archive.truth["files"]
            if f["expect"] in ("publish", "publish-if-OT")]


def tree(root):
    """{relative path: (bytes, mtime_ns)} of every file, and the set of
    directories, under root."""
    files, dirs = {}, set()
    for dp, dn, fn in os.walk(root):
        rel = os.path.relpath(dp, root)
        dirs.add(rel)
        for f in fn:
            p = os.path.join(dp, f)
            with open(p, "rb") as fh:
                files[os.path.normpath(os.path.join(rel, f))] = (
                    fh.read(), os.stat(p).st_mtime_ns)
    return files, dirs


def main_dcm(root):
    root = pathlib.Path(root)
    return sorted(p for p in root.rglob("*.dcm")
                  if ".quarantine" not in p.relative_to(root).parts)


def export(deidfs, archive, dest, db, *extra, csv_=True, check=True):
    args = [deidfs, "export", "--db", db]
    if csv_:
        args += ["--csv", archive.csv]
    args += list(extra) + [archive.identified, dest]
    r = run(*args)
    if check:
        assert r.returncode == 0, r.stderr
    return r


@pytest.fixture(scope="module")
def exported(deidfs, archive, tmp_path_factory):
    """One export with the CSV, quarantine and a JSON report."""
    base = tmp_path_factory.mktemp("export")
    db = base / "project.db"
    dest = base / "cleaned"
    report = base / "report.json"
    r = export(deidfs, archive, dest, db, "--with-quarantine", "--report",
               report)
    return {"dest": dest, "db": db, "run": r, "report": report,
            "base": base}


def test_report_counts(exported, archive):
    rep = json.loads(exported["report"].read_text())
    truth = archive.truth
    in_cohort = {s["key"] for s in truth["studies"] if s["in_csv"]}
    pub = [f for f in published(archive) if f["study"] in in_cohort]
    assert rep["exported"] == len(pub)
    assert rep["unlinked_studies"] == len(truth["unlinked_studies"])
    rows = truth["csv"]["rows"]
    assert rep["unlinked_rows"] == len(
        [r for r in rows if r["kind"] in ("unlinked-row",
                                          "bad-screening-date")])
    assert rep["skipped"] >= len(archive.files(kind="dicomdir"))
    assert rep["errors"] == 0
    # the human report went to stderr, and says the same
    assert "published" in exported["run"].stderr


def test_outputs_parse_with_pydicom_and_dcmtk(exported):
    files = main_dcm(exported["dest"])
    assert files
    for p in files:
        ds = pydicom.dcmread(str(p))
        assert ds.PatientIdentityRemoved == "YES"
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
        r = run("dcmdump", "-q", p)
        assert r.returncode == 0, r.stderr


def test_no_phi_in_any_output_byte_or_name(exported, archive):
    extra = [("stdout", exported["run"].stdout),
             ("stderr", exported["run"].stderr),
             ("report", exported["report"].read_bytes())]
    hits = find_phi(exported["dest"], archive.strings, extra_texts=extra)
    assert not hits, hits[:20]


def test_pixel_data_bytes_equal_source(exported, archive):
    def digest(ds):
        return hashlib.sha256(ds.PixelData).hexdigest()

    src = {}
    for f in published(archive):
        ds = pydicom.dcmread(archive.path(f))
        src[digest(ds)] = f
    out = [digest(pydicom.dcmread(str(p))) for p in main_dcm(exported["dest"])]
    assert out and all(d in src for d in out)
    assert len(set(out)) == len(out)


def test_structure_and_references(exported, archive):
    files = main_dcm(exported["dest"])
    by_sop = {}
    studies, series = {}, {}
    for p in files:
        ds = pydicom.dcmread(str(p))
        rel = p.relative_to(exported["dest"]).parts
        by_sop[ds.SOPInstanceUID] = p
        # one study per study folder, one series per series folder
        studies.setdefault(rel[:2], set()).add(ds.StudyInstanceUID)
        series.setdefault(rel[:3], set()).add(ds.SeriesInstanceUID)
        # the pseudonym, as PatientName's family name component
        assert rel[0] == ds.PatientID == ds.PatientName.family_name
        assert str(ds.PatientName) == rel[0] + "^"
        for uid in (ds.StudyInstanceUID, ds.SeriesInstanceUID,
                    ds.SOPInstanceUID):
            assert uid.startswith("2.25.")
    assert all(len(v) == 1 for v in studies.values())
    assert all(len(v) == 1 for v in series.values())
    # References are decided by their Type in the IOD (PS3.15 E.1.1):
    # the Referenced Image Sequence of the archive's R MLO views is Type 3
    # in the Digital Mammography IOD, so its X/Z/U* is X; the Referenced
    # Performed Procedure Step Sequence is Type 1C, so its X/Z/D is D: a
    # dummy item whose instance UID is keyed like every other UID, so the
    # images of one study still refer to one procedure step.
    assert [f for f in archive.published() if f.get("references")]
    pps = {}
    for p in files:
        ds = pydicom.dcmread(str(p))
        assert "ReferencedImageSequence" not in ds, p
        assert "ReferencedStudySequence" not in ds, p
        if ds.Modality != "MG":
            continue
        (item,) = ds.ReferencedPerformedProcedureStepSequence
        assert sorted(item.keys()) == [0x00081150, 0x00081155]
        assert item.ReferencedSOPClassUID == "1.2.840.10008.3.1.2.3.3"
        assert item.ReferencedSOPInstanceUID.startswith("2.25.")
        pps.setdefault(ds.StudyInstanceUID, set()).add(
            item.ReferencedSOPInstanceUID)
    assert pps and all(len(v) == 1 for v in pps.values())
    assert len(set.union(*pps.values())) == len(pps)


def test_same_month_studies_get_suffixed_folders(exported, archive):
    assert archive.truth["same_month"], "the archive must have such a case"
    names = {p.relative_to(exported["dest"]).parts[1]
             for p in main_dcm(exported["dest"])}
    assert any(re.fullmatch(r"\d{4}-\d{2}_2", n) for n in names)
    assert all(re.fullmatch(r"\d{4}-\d{2}(_\d+)?", n) for n in names)


def test_quarantine_reasons(exported, archive):
    text = (exported["dest"] / ".quarantine" / "reasons.csv").read_text()
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["file", "reason", "rule", "attribute"]
    got = {}
    for name, reason, rule, attr in rows[1:]:
        got[reason] = got.get(reason, 0) + 1
        assert not name.startswith("/") and ".." not in name.split("/")
        # the rule that decided, and the attribute it read: a tag path
        # ("(0028,0301)") or nothing for the file as a whole
        assert rule, (name, reason)
        assert re.fullmatch(r"(\([0-9A-F]{4},[0-9A-F]{4}\)(\[\d+\]\.)?)*",
                            attr), attr
        if reason == "burned-in-annotation":
            assert (rule, attr) == ("BurnedInAnnotation YES", "(0028,0301)")
        if reason in ("modality-not-allowed", "modality-missing"):
            assert attr == "(0008,0060)"
    in_cohort = {s["key"] for s in archive.truth["studies"] if s["in_csv"]}
    want = {}
    for f in archive.quarantined():
        if f["reason"] not in REASON:
            continue
        if f.get("study") and f["study"] not in in_cohort:
            continue        # not in the approved cohort: not shown
        want[REASON[f["reason"]]] = want.get(REASON[f["reason"]], 0) + 1
    assert got == want
    # quarantined files carry de-identified headers only
    for p in (exported["dest"] / ".quarantine").rglob("*.dcm"):
        ds = pydicom.dcmread(str(p))
        assert ds.PatientIdentityRemoved == "YES"


def test_dicomdir_never_copied(exported):
    for p in exported["dest"].rglob("*"):
        if p.is_file() and p.suffix == ".dcm":
            ds = pydicom.dcmread(str(p), stop_before_pixels=True)
            assert ds.file_meta.MediaStorageSOPClassUID != \
                "1.2.840.10008.1.3.10"


def test_cleaned_csv_agrees_with_folders(exported, archive):
    path = exported["dest"] / "cleaned_variables.csv"
    raw = path.read_bytes()
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8")), delimiter=";"))
    header, body = rows[0], rows[1:]
    with open(archive.csv, encoding="utf-8") as fh:
        src = list(csv.reader(fh, delimiter=";"))
    # column 2 dropped; the view folder added at the end
    assert len(header) == len(src[0]) - 1 + 1
    assert header[0] == src[0][0] and header[1] == src[0][2]
    assert header[-1] == "view_folder"
    folders = {p.relative_to(exported["dest"]).parts[0]
               for p in main_dcm(exported["dest"])}
    truth_rows = archive.truth["csv"]["rows"]
    linked = [r for r in truth_rows
              if r["kind"] in ("linked", "quarantined-study",
                               "bad-diagnosis-date")]
    assert len(body) == len(linked)
    conn = sqlite3.connect(str(exported["db"]))
    fnr_of = dict(conn.execute("select pseudonym, patient_id from patients"))
    conn.close()
    quarantined_only = {s["fnr"] for s in archive.truth["studies"]
                        if s["all_quarantined"]}
    for row, t in zip(body, linked):
        assert re.fullmatch(r"[a-z2-7]{16}", row[0])
        assert fnr_of[row[0]] == t["fnr"]
        if t["fnr"] not in quarantined_only:
            assert row[0] in folders
        assert re.fullmatch(r"\d{4}-\d{2}", row[1])
        assert row[1].replace("-", "") == t["date"][:6]
        # column 10 became days since screening (or empty)
        assert row[8] == "" or re.fullmatch(r"-?\d+", row[8])
    # the bad diagnosis date row: empty cell, reported by row number only
    bad = [r for r in truth_rows if r["kind"] == "bad-diagnosis-date"]
    for t in bad:
        assert "row %d" % t["line"] in exported["run"].stderr
        i = linked.index(t)
        assert body[i][8] == ""


def test_db_is_private(exported):
    assert stat.S_IMODE(os.stat(exported["db"]).st_mode) == 0o600


def test_audit_trail_answers_which_original(exported, archive):
    conn = sqlite3.connect(str(exported["db"]))
    n = conn.execute("select count(*) from audit").fetchone()[0]
    pairs = conn.execute("select count(*) from uids").fetchone()[0]
    conn.close()
    assert n > 0 and pairs > 0


def test_second_run_is_byte_identical(exported, archive, deidfs):
    again = exported["base"] / "again"
    export(deidfs, archive, again, exported["db"], "--with-quarantine")
    a_files, a_dirs = tree(exported["dest"])
    b_files, b_dirs = tree(again)
    assert a_dirs == b_dirs
    assert a_files.keys() == b_files.keys()
    for k in a_files:
        assert a_files[k] == b_files[k], k


def test_rerun_in_place_writes_nothing(exported, archive, deidfs):
    r = export(deidfs, archive, exported["dest"], exported["db"],
               "--with-quarantine")
    m = re.search(r"written\s+(\d+) files, (\d+) already complete", r.stderr)
    assert m and m.group(1) == "0" and int(m.group(2)) > 0


def test_resume_after_damage(exported, archive, deidfs, tmp_path):
    dest = tmp_path / "cleaned"
    shutil.copytree(str(exported["dest"]), str(dest))
    files = main_dcm(dest)
    files[0].unlink()                           # lost
    files[1].write_bytes(b"partial")            # wrong size
    (files[2].parent / ".deidfs-999.tmp").write_bytes(b"x")  # stale temp
    export(deidfs, archive, dest, exported["db"], "--with-quarantine")
    a, _ = tree(exported["dest"])
    b, _ = tree(dest)
    assert a == b


def _count_files(root):
    return sum(len(f) for _, _, f in os.walk(root))


def _kill_when(cmd, dest, at_least):
    """Start cmd, SIGKILL it as soon as dest holds at_least files (or at
    once when at_least is 0).  Returns the number of files seen at the
    kill, or None when the run finished first."""
    p = subprocess.Popen([str(c) for c in cmd], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    try:
        while p.poll() is None:
            n = _count_files(dest) if os.path.isdir(dest) else 0
            if n >= at_least:
                p.send_signal(signal.SIGKILL)
                p.wait()
                return n
            time.sleep(0.0005)
        return None
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_killed_run_resumes_to_identical_tree(deidfs, archive_factory,
                                              tmp_path):
    arch = archive_factory(women=12, rows=512, cols=512)
    db = tmp_path / "p.db"
    dest = tmp_path / "killed"
    cmd = [deidfs, "export", "-j", "1", "--db", db, "--csv", arch.csv,
           arch.identified, dest]
    # killed while indexing into a new db, then at several points of the
    # export: the db stays usable and nothing partial has a final name
    _kill_when(cmd, dest, 0)
    killed = []
    for at in (1, 20, 50):
        n = _kill_when(cmd, dest, at)
        if n is not None:
            killed.append(n)
        for k in (tree(dest)[0] if dest.exists() else {}):
            base = os.path.basename(k)
            assert not base.startswith(".deidfs-") or \
                base.endswith(".tmp"), k
    assert killed, "no run was interrupted: the test proved nothing"
    export(deidfs, arch, dest, db)
    ref = tmp_path / "ref"
    export(deidfs, arch, ref, db)
    a, da = tree(ref)
    b, db_ = tree(dest)
    assert da == db_
    assert a == b


def test_without_csv_every_allowed_file_appears(deidfs, archive, tmp_path):
    dest = tmp_path / "nocsv"
    export(deidfs, archive, dest, tmp_path / "p.db", csv_=False)
    assert len(main_dcm(dest)) == len(published(archive))
    assert not (dest / "cleaned_variables.csv").exists()


def test_modalities_option(deidfs, archive, tmp_path):
    dest = tmp_path / "all"
    export(deidfs, archive, dest, tmp_path / "p.db", "--modalities", "all",
           csv_=False)
    mods = {pydicom.dcmread(str(p), stop_before_pixels=True).Modality
            for p in main_dcm(dest)}
    assert "CT" in mods
    dest2 = tmp_path / "mg"
    export(deidfs, archive, dest2, tmp_path / "p.db", "--modalities", "MG",
           csv_=False)
    mods = {pydicom.dcmread(str(p), stop_before_pixels=True).Modality
            for p in main_dcm(dest2)}
    assert mods == {"MG"}


def test_layout_option(deidfs, archive, tmp_path):
    dest = tmp_path / "lay"
    export(deidfs, archive, dest, tmp_path / "p.db", "--layout",
           "{patient}/{study_ordinal}/{laterality}_{view}_{instance_ordinal}"
           ".dcm")
    rels = [p.relative_to(dest).parts for p in main_dcm(dest)]
    assert rels and all(len(r) == 3 for r in rels)
    assert all(re.fullmatch(r"\d+", r[1]) for r in rels)
    assert len(set(rels)) == len(rels)
    r = export(deidfs, archive, tmp_path / "x", tmp_path / "p.db",
               "--layout", "{nope}/{patient}", check=False)
    assert r.returncode == 2 and "unknown variable" in r.stderr


def test_usage_errors(deidfs, archive, tmp_path):
    r = run(deidfs, "export", archive.identified, tmp_path / "o")
    assert r.returncode == 2 and "--db" in r.stderr
    r = run(deidfs, "export", "--db", archive.identified / "x.db",
            archive.identified, tmp_path / "o")
    assert r.returncode == 2
    assert not (archive.identified / "x.db").exists()
    r = run(deidfs, "export", "--db", tmp_path / "p.db", archive.identified,
            archive.identified / "out")
    assert r.returncode == 2
    r = run(deidfs, "frobnicate")
    assert r.returncode == 2


def test_help_for_every_command(deidfs, archive, tmp_path):
    """-h and --help print the usage on stdout and exit 0, alone or after
    a command, also among other options: nothing runs, nothing is
    created."""
    full = run(deidfs, "--help")
    assert full.returncode == 0 and full.stdout.startswith("usage: deidfs")
    assert "-h, --help" in full.stdout
    db, out = tmp_path / "p.db", tmp_path / "o"
    for args in (("-h",), ("export", "-h"), ("export", "--help"),
                 ("mount", "-h"), ("mount", "--help"),
                 ("export", "--db", db, "-h", archive.identified, out),
                 ("mount", "-f", "--db", db, archive.identified, out,
                  "--help")):
        r = run(deidfs, *args)
        assert r.returncode == 0, (args, r.stderr)
        assert r.stdout == full.stdout and r.stderr == "", args
    assert not db.exists() and not out.exists()


def test_option_spellings(deidfs, archive, tmp_path):
    """An option's argument follows it or is joined with '=' (-j also
    as -jN), options may come after SOURCE and DEST, and an argument is
    taken whatever it looks like: the same export every way.  One name
    being the start of another (--csv, --csv-spec, --csv-name) takes
    nothing from it."""
    db = tmp_path / "p.db"
    plain = export(deidfs, archive, tmp_path / "a", db, "-j", "2",
                   "--csv-name", "-v.csv", "--csv-spec",
                   "1=pseudonym,2=drop,3=month,10=days-since:3")
    joined = run(deidfs, "export", archive.identified, tmp_path / "b",
                 "--db=%s" % db, "--csv=%s" % archive.csv, "-j2",
                 "--csv-name=-v.csv",
                 "--csv-spec=1=pseudonym,2=drop,3=month,10=days-since:3")
    assert plain.returncode == joined.returncode == 0, joined.stderr
    assert tree(tmp_path / "a") == tree(tmp_path / "b")
    assert (tmp_path / "b" / "-v.csv").is_file()
    for args, what in ((("--db",), "'--db' requires an argument"),
                       (("--db", db, "-j"), "--help lists"),
                       (("--db", db, "--jobs=0"), "--jobs"),
                       (("--db", db, "--csv-spe", "1=drop"),
                        "unrecognized option '--csv-spe'")):
        r = run(deidfs, "export", archive.identified, tmp_path / "c", *args)
        assert r.returncode == 2 and what in r.stderr, (args, r.stderr)
    assert not (tmp_path / "c").exists()


def test_corrupt_db_is_refused(deidfs, archive, tmp_path):
    db = tmp_path / "bad.db"
    db.write_bytes(b"not a database" * 100)
    r = run(deidfs, "export", "--db", db, archive.identified, tmp_path / "o")
    assert r.returncode == 1
    assert "refusing" in r.stderr
    assert db.read_bytes() == b"not a database" * 100


def test_date_shift_option(deidfs, archive, tmp_path):
    dest = tmp_path / "shift"
    export(deidfs, archive, dest, tmp_path / "p.db",
           "--retain-long-modified-dates", csv_=False)
    for p in main_dcm(dest)[:5]:
        ds = pydicom.dcmread(str(p), stop_before_pixels=True)
        assert ds.LongitudinalTemporalInformationModified == "MODIFIED"
        codes = {i.CodeValue for i in ds.DeidentificationMethodCodeSequence}
        assert {"113100", "113107"} <= codes
    # Every date of a woman's files moved back by her one keyed shift
    # (1..730 days), the same for all her files.  (Comparing with her
    # other original dates would be wrong: a shift can land one study on
    # another's date by chance, with a new key each run.)
    conn = sqlite3.connect(str(tmp_path / "p.db"))
    fnr_of = dict(conn.execute("select pseudonym, patient_id from patients"))
    conn.close()
    src_by_px = {}
    for f in archive.published():
        sds = pydicom.dcmread(archive.path(f))
        src_by_px[hashlib.sha256(sds.PixelData).hexdigest()] = sds
    shift_of, checked = {}, 0
    for p in main_dcm(dest):
        ds = pydicom.dcmread(str(p))
        sds = src_by_px.get(hashlib.sha256(ds.PixelData).hexdigest())
        if sds is None:
            continue
        fnr = fnr_of[ds.PatientID]
        assert str(sds.PatientID).strip() == fnr
        for kw in ("StudyDate", "SeriesDate", "AcquisitionDate",
                   "ContentDate"):
            v, o = str(ds.get(kw, "")), str(sds.get(kw, ""))
            if not v or not o:
                continue
            days = (datetime.date(int(o[:4]), int(o[4:6]), int(o[6:8])) -
                    datetime.date(int(v[:4]), int(v[4:6]), int(v[6:8]))).days
            assert 1 <= days <= 730, (p.name, kw, days)
            assert shift_of.setdefault(fnr, days) == days, (p.name, kw)
            checked += 1
    assert checked > 0 and len(shift_of) > 1


# --- real files: every transfer syntax in tests/data -----------------------

def _pixel_bytes(path):
    return decoded_pixels(path)


def test_real_files_all_transfer_syntaxes(deidfs, tests_data, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    ok = []
    for p in sorted(tests_data.glob("*.dcm")):
        shutil.copy(str(p), str(src / p.name))
    # image_dfl.dcm has no PatientID (quarantined, below); the same
    # deflated image with one must be published
    ds = pydicom.dcmread(str(src / "image_dfl.dcm"))
    assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1.99"
    ds.PatientID = "01017012345"
    ds.save_as(str(src / "deflated_with_id.dcm"), write_like_original=False)
    dest = tmp_path / "out"
    r = run(deidfs, "export", "--modalities", "all", "--with-quarantine",
            "--db", tmp_path / "p.db", src, dest)
    assert r.returncode in (0, 3), r.stderr
    outs = [p for p in dest.rglob("*.dcm")]
    assert outs
    seen_ts = set()
    src_pixels = {}
    for p in src.iterdir():
        try:
            ts, px = _pixel_bytes(p)
        except Exception:
            continue
        if px is not None:
            src_pixels[hashlib.sha256(px).hexdigest()] = (p.name, ts)
    for p in outs:
        ds = pydicom.dcmread(str(p))
        ts = ds.file_meta.TransferSyntaxUID
        seen_ts.add(ts)
        if "PixelData" in ds and ".quarantine" not in p.parts:
            px = _pixel_bytes(p)[1]
            assert hashlib.sha256(px).hexdigest() in src_pixels, p
            ok.append(p)
        run("dcmdump", "-q", p, check=True)
    # implicit LE, explicit LE, explicit BE, JPEG baseline, JPEG lossless,
    # JPEG 2000, RLE (deflated is written as explicit LE)
    for ts in ("1.2.840.10008.1.2", "1.2.840.10008.1.2.1",
               "1.2.840.10008.1.2.2", "1.2.840.10008.1.2.4.50",
               "1.2.840.10008.1.2.4.70", "1.2.840.10008.1.2.4.90",
               "1.2.840.10008.1.2.5"):
        assert any(t == ts for t in seen_ts), ts
    assert len(ok) >= 8
    # published by name: deflated (written as explicit LE), encapsulated
    # with a basic offset table (GH133) and without (JPEG2000, RLE), big
    # endian, implicit, JPEG baseline
    published = {hashlib.sha256(_pixel_bytes(p)[1]).hexdigest()
                 for p in ok}
    for name in ("deflated_with_id.dcm", "GH133.dcm", "JPEG2000.dcm",
                 "MR_small_RLE.dcm", "MR_small_bigendian.dcm",
                 "MR_small_implicit.dcm", "SC_rgb_jpeg_dcmtk.dcm"):
        px = _pixel_bytes(src / name)[1]
        assert hashlib.sha256(px).hexdigest() in published, name
    reasons = (dest / ".quarantine" / "reasons.csv").read_text()
    assert ",patient-id-missing,PatientID missing or empty," \
        "\"(0010,0020)\"\n" in reasons


# Warnings the Basic Profile forces on every output (README: "Validity"):
# Study Date, Study Time and Study ID are Type 2 and their Annex E code is
# Z, so they are present and empty, and dciodvfy notes that a DICOMDIR
# could not index them.  Nothing else is excused.
FORCED_BY_PROFILE = {
    "Warning - Missing attribute or value that would be needed to build "
    "DICOMDIR - Study %s" % what for what in ("Date", "Time", "ID")}


def _dciodvfy_errors(path):
    """The errors and warnings dciodvfy reports for path, as kinds (values
    and positions dropped), less the ones the profile forces."""
    r = run("dciodvfy", path)
    errs = set()
    for line in (r.stdout + r.stderr).splitlines():
        if line.startswith("Error") or line.startswith("Warning"):
            if line.strip() in FORCED_BY_PROFILE:
                continue
            # drop values and positions: compare the kind of message
            errs.add(re.sub(r"<[^>]*>|\"[^\"]*\"|\d+", "#", line))
    return errs


def _new_dciodvfy_errors(out_root, src_files):
    """{source name: errors dciodvfy reports for its output but not for
    the source}; outputs are matched to sources by their pixel data."""
    src = {}
    for p in src_files:
        try:
            px = decoded_pixels(p)[1]
        except Exception:
            continue
        if px is not None:
            src[hashlib.sha256(px).hexdigest()] = p
    found, checked = {}, 0
    for p in main_dcm(out_root):
        px = decoded_pixels(p)[1]
        s = src.get(hashlib.sha256(px).hexdigest()) \
            if px is not None else None
        if s is None:
            continue
        checked += 1
        new = _dciodvfy_errors(p) - _dciodvfy_errors(s)
        if new:
            found[os.path.basename(str(s))] = sorted(new)[:10]
    return found, checked


def test_dciodvfy_finds_no_new_errors(exported, archive):
    """No error or warning in any output that its source did not have
    (issue 9: the archive's mammograms carry a referenced study and
    procedure step, an operator identification and a pixel spacing
    calibration, whose compound codes the IOD decides)."""
    found, checked = _new_dciodvfy_errors(
        exported["dest"], [archive.path(f) for f in published(archive)])
    assert checked >= len(published(archive)) // 2
    assert not found, found


def test_dciodvfy_no_new_errors_on_real_files(deidfs, tests_data, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for p in sorted(tests_data.glob("*.dcm")):
        shutil.copy(str(p), str(src / p.name))
    dest = tmp_path / "out"
    r = run(deidfs, "export", "--modalities", "all", "--db",
            tmp_path / "p.db", src, dest)
    assert r.returncode in (0, 3), r.stderr
    found, checked = _new_dciodvfy_errors(dest, sorted(src.iterdir()))
    assert checked >= 8
    assert not found, found


def test_shift_is_the_same_in_csv_and_dicom(deidfs, archive, tmp_path):
    """--retain-long-modified-dates shifts each woman's dates by one keyed
    number of days; the CSV 'shift' role applies the same shift."""
    dest = tmp_path / "shift"
    export(deidfs, archive, dest, tmp_path / "p.db",
           "--retain-long-modified-dates", "--csv-spec",
           "1=pseudonym,2=drop,3=shift,10=days-since:3")
    rows = list(csv.reader(io.StringIO(
        (dest / "cleaned_variables.csv").read_text()), delimiter=";"))[1:]
    dicom_dates = {}
    for p in main_dcm(dest):
        ds = pydicom.dcmread(str(p), stop_before_pixels=True)
        dicom_dates.setdefault(ds.PatientID, set()).add(ds.StudyDate)
    linked = [r for r in archive.truth["csv"]["rows"]
              if r["kind"] in ("linked", "quarantined-study",
                               "bad-diagnosis-date")]
    assert len(rows) == len(linked)
    checked = 0
    for row, t in zip(rows, linked):
        if row[0] not in dicom_dates:
            continue            # her studies are all quarantined
        d, m, y = row[1].split(".")
        shifted = y + m + d
        assert shifted in dicom_dates[row[0]]
        assert shifted != t["date"]         # really shifted
        checked += 1
    assert checked >= 5


def test_whitelist_keeps_listed_descriptors(deidfs, archive, tmp_path):
    wl = tmp_path / "wl.json"
    wl.write_text(json.dumps({"0008,103E": ["Screening bilateral"]}))
    dest = tmp_path / "wl"
    export(deidfs, archive, dest, tmp_path / "p.db", "--whitelist", wl)
    descs = {str(pydicom.dcmread(str(p), stop_before_pixels=True)
                 .get("SeriesDescription", "")) for p in main_dcm(dest)}
    src = {s["description"] for st in archive.truth["studies"]
           for s in st["series"] if s["modality"] == "MG"}
    # only white-listed values survive, every other one is gone
    assert "Screening bilateral" in src
    assert descs == {"Screening bilateral"} or \
        descs == {"", "Screening bilateral"}
    r = run(deidfs, "export", "--whitelist", tmp_path / "missing.json",
            "--db", tmp_path / "p.db", archive.identified, tmp_path / "x")
    assert r.returncode == 1
    bad = tmp_path / "bad.json"
    bad.write_text('{"0008,103E": "not a list"}')
    r = run(deidfs, "export", "--whitelist", bad, "--db", tmp_path / "p.db",
            archive.identified, tmp_path / "x")
    assert r.returncode == 2 and "not a list" not in r.stderr


def test_link_date_column_option(deidfs, archive, tmp_path):
    """The linking key is configurable: another date column, or the
    personal ID alone."""
    def report(*extra):
        rep = tmp_path / "r.json"
        dest = tmp_path / ("o%d" % len(list(tmp_path.iterdir())))
        export(deidfs, archive, dest, tmp_path / "p.db", "--report", rep,
               *extra)
        return json.loads(rep.read_text()), dest

    default, _ = report()
    assert default["unlinked_studies"] > 0
    by_id, dest = report("--link-date-column", "none")
    women_with_rows = {r["fnr"] for r in archive.truth["csv"]["rows"]
                       if r.get("fnr")}
    orphan = [s for s in archive.truth["unlinked_studies"]
              if next(st for st in archive.truth["studies"]
                      if st["key"] == s)["fnr"] not in women_with_rows]
    assert by_id["unlinked_studies"] == len(orphan)
    assert by_id["exported"] > default["exported"]
    # the diagnosis date (column 10) never equals a study date here
    by_diag, _ = report("--link-date-column", "10")
    assert by_diag["exported"] == 0
    r = run(deidfs, "export", "--link-date-column", "0", "--db",
            tmp_path / "p.db", archive.identified, tmp_path / "x")
    assert r.returncode == 2


def test_db_of_an_earlier_format_is_reanalysed(deidfs, archive, tmp_path):
    """A db indexed by a deidfs whose output bytes differed (an earlier
    format version) is re-analysed, not served with stale sizes."""
    db = tmp_path / "p.db"
    ref = tmp_path / "ref"
    export(deidfs, archive, ref, db)
    conn = sqlite3.connect(str(db))
    n = conn.execute("update files set opts = 'v1' || substr(opts, 3), "
                     "header_len = header_len + 2, "
                     "out_size = out_size + 2 where header_len > 0"
                     ).rowcount
    conn.commit()
    conn.close()
    assert n > 0
    dest = tmp_path / "again"
    r = export(deidfs, archive, dest, db)
    assert "source file changed" not in r.stderr
    a, _ = tree(ref)
    b, _ = tree(dest)
    assert a.keys() == b.keys()
    assert all(a[k][0] == b[k][0] for k in a)
