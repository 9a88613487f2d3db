"""
test_studies.py - a woman's studies told apart in a viewer without an
identifying value (issue 16): StudyID a keyed token of the study,
StudyDescription the study's month as its folder names it and that token, and
--month-dates keeping the dates to the month.

A published file's header is a function of its source version, the options
and the key only: never of the view's naming (folder names such as
2012-01_2 move when a study is added, while the mount caches headers by
source version), which the last test checks.
"""

import collections
import os
import re
import shutil
import sys

import pydicom

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from conftest import run  # noqa: E402


def studies(dest):
    """{study folder (pseudonym/YYYY-MM[_n]): {(StudyID, StudyDescription,
    StudyDate, StudyInstanceUID)}} of the published files."""
    out = collections.defaultdict(set)
    for dp, _, fns in os.walk(str(dest)):
        if ".quarantine" in dp:
            continue
        for f in fns:
            if not f.endswith(".dcm"):
                continue
            ds = pydicom.dcmread(os.path.join(dp, f))
            rel = os.path.relpath(dp, str(dest)).split(os.sep)
            out["/".join(rel[:2])].add(
                (ds.get("StudyID"), ds.get("StudyDescription"),
                 ds.get("StudyDate"), ds.StudyInstanceUID))
    return out


def export(deidfs, archive, dest, db, *extra):
    r = run(deidfs, "export", "-q", "--db", db, "--csv", archive.csv,
            *extra, archive.identified, dest)
    assert r.returncode == 0, r.stderr
    return studies(dest)


def test_studies_of_one_woman_in_one_month_differ(deidfs, archive,
                                                  tmp_path):
    got = export(deidfs, archive, tmp_path / "out", tmp_path / "p.db")
    assert got
    ids = {}
    for folder, vals in got.items():
        # one StudyID and one description per study folder
        assert len({(i, d) for i, d, _, _ in vals}) == 1, (folder, vals)
        sid, desc, date, _ = next(iter(vals))
        month = folder.split("/")[1].split("_")[0]
        assert re.fullmatch(r"\d{4}-\d{2}", month), folder
        assert re.fullmatch(r"[A-Z2-7]{10}", sid), sid
        # the folder's month, and the study's token
        assert desc == month + " " + sid, (folder, desc)
        assert date == ""       # the basic profile: Z
        ids[folder] = sid
    # a different StudyID for every study, also two in one month
    assert len(set(ids.values())) == len(ids)
    pairs = [f for f in got if re.search(r"/\d{4}-\d{2}_2$", f)]
    assert pairs, sorted(got)   # the archive has a woman with two in a month
    for f in pairs:
        first = f[:-2]
        assert ids[f] != ids[first]
        # one month, two descriptions a viewer tells apart
        assert next(iter(got[f]))[1] != next(iter(got[first]))[1]
        assert next(iter(got[f]))[1][:7] == next(iter(got[first]))[1][:7]
    # nothing of the original StudyID or study UID in the token
    for sid in ids.values():
        assert sid.encode() not in b"".join(
            s.encode("utf-8", "surrogateescape") if isinstance(s, str) else s
            for s in archive.strings)


def test_month_dates(deidfs, archive, tmp_path):
    """--month-dates: every date the first of its month, which is the
    month of the folder and of the CSV's month column; the method says so."""
    dest = tmp_path / "out"
    got = export(deidfs, archive, dest, tmp_path / "p.db", "--month-dates")
    for folder, vals in got.items():
        month = folder.split("/")[1].split("_")[0]
        for sid, desc, date, _ in vals:
            assert date == month.replace("-", "") + "01", (folder, date)
            assert desc == month + " " + sid
    some = next(p for p in dest.rglob("*.dcm") if ".quarantine" not in str(p))
    ds = pydicom.dcmread(str(some))
    assert ds.LongitudinalTemporalInformationModified == "MODIFIED"
    assert "113107" in [c.CodeValue
                        for c in ds.DeidentificationMethodCodeSequence]
    assert "dates kept to the month" in ds.DeidentificationMethod
    for dt in ("AcquisitionDate", "ContentDate", "SeriesDate"):
        if ds.get(dt):
            assert ds.get(dt).endswith("01"), dt
    with open(str(dest / "cleaned_variables.csv"), encoding="utf-8") as f:
        rows = [ln.rstrip("\n").split(";") for ln in f][1:]
    for row in rows:
        if row[-1]:
            for folder in row[-1].split("|"):
                if folder.startswith(".quarantine/"):
                    folder = folder[len(".quarantine/"):]
                assert folder.split("/")[1].split("_")[0] == row[1], row
    # with a date option that keeps or shifts dates whole: a usage error
    r = run(deidfs, "export", "--db", tmp_path / "q.db", "--month-dates",
            "--retain-long-modified-dates", archive.identified,
            tmp_path / "out2")
    assert r.returncode == 2, r.stderr
    assert "choose one" in r.stderr
    assert not (tmp_path / "q.db").exists()


def test_header_does_not_follow_the_naming(deidfs, archive_copy, tmp_path):
    """A study added before another of the same woman in the same month
    renames the other's folder (2013-04/ becomes 2013-04_2/); the files of
    the renamed study keep their bytes, StudyID and StudyDescription
    included, and the new study gets a StudyID of its own."""
    src = archive_copy.identified
    dest = tmp_path / "out"
    db = tmp_path / "p.db"

    def export_all():
        r = run(deidfs, "export", "-q", "--db", db, src, dest)
        assert r.returncode == 0, r.stderr
        return {str(p.relative_to(dest)): p.read_bytes()
                for p in dest.rglob("*.dcm") if ".quarantine" not in str(p)}

    old = export_all()
    before = studies(dest)
    f = next(f for f in archive_copy.published() if f.get("kind") == "mg")
    sds = pydicom.dcmread(archive_copy.path(f))
    for k in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"):
        setattr(sds, k, getattr(sds, k)[:58] + ".99")
    sds.StudyDate = sds.StudyDate[:6] + "01"
    sds.StudyTime = "000000"
    sds.save_as(os.path.join(os.path.dirname(archive_copy.path(f)),
                             "added-study.dcm"))
    new = export_all()
    after = studies(dest)
    assert len(after) == len(before) + 1
    # every file published before is published again, byte for byte
    assert sorted(old.values()) == sorted(v for v in new.values()
                                          if v in set(old.values()))
    assert all(v in set(new.values()) for v in old.values())
    # some under a new name: the folder of their study was renamed
    moved = {n: m for n, v in old.items() for m, w in new.items()
             if v == w and n != m}
    assert moved, "no folder renamed"
    for n, m in moved.items():
        assert re.search(r"/\d{4}-\d{2}_\d+/", "/" + m), m
    ids = {i for vals in after.values() for i, _, _, _ in vals}
    assert len(ids) == len(after)       # the new study: a StudyID of its own
