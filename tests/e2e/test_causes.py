"""
test_causes.py - why a file is quarantined, and that what can be
de-identified safely is published (issue 16).

Every quarantined file's row in .quarantine/reasons.csv, and the run
report, name the rule that decided and the attribute it read (a tag path,
never its value); deid-failed is left for what truly cannot be
de-identified: a CT whose rescale values are decimals longer than DS's 16
characters, or with an exponent, is published; so is a file whose UIDs are
written as UN, also under --retain-uids.
"""

import json
import os
import shutil
import sys

import pydicom
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from conftest import read_reasons, run  # noqa: E402

CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"
# planted: the failing value holds an ID and a name; neither may appear
PLANTED_ID = "01017012345"
PLANTED_NAME = "Quennevilleson"


def published(dest):
    return sorted(os.path.join(dp, f) for dp, _, fns in os.walk(str(dest))
                  for f in fns
                  if f.endswith(".dcm") and ".quarantine" not in dp)


def all_bytes(root):
    """Every file's bytes and every name under root, as one blob."""
    out = []
    for dp, dns, fns in os.walk(str(root)):
        out.extend(n.encode("utf-8", "surrogateescape") for n in dns + fns)
        for f in fns:
            with open(os.path.join(dp, f), "rb") as fh:
                out.append(fh.read())
    return b"\n".join(out)


def ct_from(tests_data, path, slope, intercept, pid="CT0001"):
    """A CT made from MR_small.dcm (its pixels are 16-bit, as a CT's) with
    the given Rescale Slope and Intercept strings written as they are."""
    ds = pydicom.dcmread(str(tests_data / "MR_small.dcm"))
    ds.SOPClassUID = CT_IMAGE
    ds.file_meta.MediaStorageSOPClassUID = CT_IMAGE
    ds.Modality = "CT"
    ds.PatientID = pid
    ds.PatientName = "Ct^Patient"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.KVP = "120"
    ds.AcquisitionNumber = "1"
    ds.add_new(0x00281052, "DS", None)
    ds.add_new(0x00281053, "DS", None)
    # raw strings: pydicom would reformat or refuse them
    ds[0x00281052]._value = intercept
    ds[0x00281053]._value = slope
    ds.RescaleType = "HU"
    ds.save_as(str(path), write_like_original=False)


def export(deidfs, src, dest, db, *extra):
    report = str(dest) + ".json"
    r = run(deidfs, "export", "--db", db, "--modalities", "all",
            "--with-quarantine", "--report", report, *extra, src, dest)
    with open(report) as f:
        rep = json.load(f)
    return r, rep


def test_decimal_rescale_values_are_published(deidfs, tests_data, tmp_path):
    """A CT with RescaleSlope "1.0000000000000000" (18 characters, more
    than DS's 16, as some scanners write) and an intercept with many
    digits and an exponent is published, its values as they were: digits
    carry no identity, and a dummy 0 would spoil the image's Hounsfield
    units."""
    src = tmp_path / "src"
    src.mkdir()
    cases = {
        "long.dcm": ("1.0000000000000000", "-1024.000000000000"),
        "exponent.dcm": ("1.5E-05", "-1.234567890123456789e+003"),
        "padded.dcm": (" 1.0 ", "+2.5"),
    }
    for i, (name, (slope, icpt)) in enumerate(sorted(cases.items())):
        ct_from(tests_data, src / name, slope, icpt, pid="CT%04d" % i)
    dest = tmp_path / "out"
    r, rep = export(deidfs, src, dest, tmp_path / "p.db")
    assert r.returncode == 0, r.stderr
    assert rep["exported"] == 3 and rep["quarantined"] == 0, rep
    got = set()
    for p in published(dest):
        ds = pydicom.dcmread(p)
        assert ds.Modality == "CT" and ds.PatientIdentityRemoved == "YES"
        raw = (ds[0x00281053].value, ds[0x00281052].value)
        got.add(tuple(str(v).strip() for v in raw))
    want = {(s.strip(), i.strip()) for s, i in cases.values()}
    assert got == want


def test_deid_failure_names_rule_and_tag_path(deidfs, tests_data, tmp_path):
    """A file the rules cannot de-identify (a referenced UID holding a NUL,
    which no keyed replacement could stand for faithfully) is deid-failed,
    and reasons.csv, the report and the summary say which rule failed on
    which attribute: its tag path through the sequence, never its value."""
    src = tmp_path / "src"
    src.mkdir()
    ct_from(tests_data, src / "ok.dcm", "1", "0", pid="CT0001")
    ds = pydicom.dcmread(str(src / "ok.dcm"))
    ds.SOPInstanceUID = ds.SOPInstanceUID + ".7"
    ds.PatientID = PLANTED_ID
    ds.PatientName = PLANTED_NAME + "^Kari"
    # a code sequence (not in Table E.1-1: kept, its items cleaned)
    first = Dataset()
    first.CodeValue = "T-D4000"
    first.CodingSchemeDesignator = "SRT"
    first.CodeMeaning = "Abdomen"
    bad = Dataset()
    bad.CodeValue = "T-D3000"
    bad.CodingSchemeDesignator = "SRT"
    bad.CodeMeaning = "Chest"
    # a NUL and the planted values inside the second item's UID
    val = "1.2.3.5\0" + PLANTED_ID + PLANTED_NAME[:4] + "\0"
    bad.add_new(0x0008010C, "UI", None)
    bad[0x0008010C]._value = val
    ds.AnatomicRegionSequence = Sequence([first, bad])
    ds.save_as(str(src / "bad.dcm"), write_like_original=False)
    assert (src / "bad.dcm").read_bytes().count(val.encode()) == 1
    back = pydicom.dcmread(str(src / "bad.dcm"))
    assert len(back.AnatomicRegionSequence) == 2

    dest = tmp_path / "out"
    r, rep = export(deidfs, src, dest, tmp_path / "p.db")
    assert r.returncode == 0, r.stderr
    assert rep["exported"] == 1, rep
    assert rep["quarantined_by_reason"]["deid-failed"] == 1, rep
    rows = read_reasons(dest / ".quarantine" / "reasons.csv")
    assert len(rows) == 1, rows
    row = rows[0]
    assert row["reason"] == "deid-failed"
    assert row["rule"] == "U (replace UID)"
    assert row["attribute"] == "(0008,2218)[1].(0008,010C)"
    # the report records the cause, counted
    assert {"reason": "deid-failed", "rule": "U (replace UID)",
            "attribute": "(0008,2218)[1].(0008,010C)", "files": 1} \
        in rep["quarantine_causes"], rep["quarantine_causes"]
    # and so does the summary on stderr
    assert "U (replace UID) at (0008,2218)[1].(0008,010C): 1" in r.stderr
    # a file that cannot be de-identified is never written, even under
    # .quarantine/, and nothing planted appears in any output
    assert not [p for p in (dest / ".quarantine").rglob("*.dcm")]
    with open(str(dest) + ".json", "rb") as f:
        report = f.read()
    blob = all_bytes(dest) + report + r.stdout.encode() + r.stderr.encode()
    for s in (PLANTED_ID, PLANTED_NAME, PLANTED_NAME.upper(),
              PLANTED_ID[:6] + " " + PLANTED_ID[6:]):
        assert s.encode() not in blob, s


def test_uids_written_as_un_are_published(deidfs, tests_data, tmp_path):
    """explicit_VR-UN.dcm writes its public attributes as UN, its UIDs
    too.  With --retain-uids its SOP Instance UID used to be emptied (a UN
    value is no valid UID, and its dummy was empty), so the file was
    deid-failed; a UID written as UN is now read as the UID it is."""
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(str(tests_data / "explicit_VR-UN.dcm"), str(src))
    orig = pydicom.dcmread(str(src / "explicit_VR-UN.dcm"))
    v = orig[0x00080018].value
    orig_sop = (v.decode() if isinstance(v, bytes) else v).rstrip("\0 ")
    for extra, same in ((["--retain-uids"], True), ([], False)):
        dest = tmp_path / ("out%d" % len(extra))
        r, rep = export(deidfs, src, dest, tmp_path / "p.db", "--no-scan",
                        *extra)
        assert r.returncode == 0, r.stderr
        assert rep["exported"] == 1, (extra, rep["quarantine_causes"])
        ds = pydicom.dcmread(published(dest)[0])
        assert ds[0x00080018].VR == "UI"
        assert (ds.SOPInstanceUID == orig_sop) == same
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID


def test_unreadable_header_names_where_it_stopped(deidfs, tests_data,
                                                  tmp_path):
    """A header the parser cannot read to its end (here: cut in the middle
    of the element after Instance Number, and a value length running past
    the end of a nested item) is quarantined as unparseable, and the row
    names the attribute the parse read last: a tag path, through the
    sequence for the nested one, never a value ("at or after": the
    attribute whose value is broken, or the last whole one before the
    break)."""
    src = tmp_path / "src"
    src.mkdir()
    ct_from(tests_data, src / "ok.dcm", "1", "0", pid="CT0001")
    data = (src / "ok.dcm").read_bytes()
    # cut 4 bytes into the element that follows Instance Number
    at = data.index(b"\x20\x00\x13\x00IS")
    vlen = int.from_bytes(data[at + 6:at + 8], "little")
    nxt = at + 8 + vlen
    (src / "cut.dcm").write_bytes(data[:nxt + 4])
    # a nested value whose length runs past its item
    ds = pydicom.dcmread(str(src / "ok.dcm"))
    ds.SOPInstanceUID = ds.SOPInstanceUID + ".9"
    ds.PatientID = "CT0002"
    item = Dataset()
    item.CodeValue = "T-D4000"
    item.CodingSchemeDesignator = "SRT"
    item.CodeMeaning = "Abdomen"
    ds.AnatomicRegionSequence = Sequence([item])
    ds.save_as(str(src / "nested.dcm"), write_like_original=False)
    data = bytearray((src / "nested.dcm").read_bytes())
    at = data.index(b"\x08\x00\x04\x01LO")      # CodeMeaning
    data[at + 6:at + 8] = (0x7ff0).to_bytes(2, "little")
    (src / "nested.dcm").write_bytes(bytes(data))

    dest = tmp_path / "out"
    r, rep = export(deidfs, src, dest, tmp_path / "p.db")
    assert r.returncode == 0, r.stderr
    rows = {row["attribute"]: row for row in
            read_reasons(dest / ".quarantine" / "reasons.csv")}
    # the cut file: the last whole element; the nested one: the element
    # whose length runs past its item
    assert set(rows) == {"(0020,0013)",
                         "(0008,2218)[0].(0008,0104)"}, rows
    for row in rows.values():
        assert row["reason"] == "unparseable"
        assert row["rule"] == "header unreadable at or after"
