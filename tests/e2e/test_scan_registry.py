"""
test_scan_registry.py - text burned into the pixels matched against the
registry row of the file's woman (issue 14): the invitation number (a
dropped column) or the diagnosis date (a days-since column), neither in
the file's header, quarantine the file as burned-in-text:registry-value
and burned-in-text:registry-date; with the CSV changed, the same files
(not scanned again) are told by what they hold then.  The db keeps only
keyed digests of the text.
"""

import csv
import json
import os
import sqlite3
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from conftest import run  # noqa: E402

import burnin  # noqa: E402

pytestmark = pytest.mark.skipif(not burnin.have_tesseract(),
                                reason=burnin.NO_TESSERACT)

PID = burnin.fnr(__import__("random").Random(5), 3, 5, 1961)
INVITATION = "7345678901"
DIAGNOSIS = "14.08.2024"
# what each image shows, by instance number
SHOWN = {1: INVITATION, 2: DIAGNOSIS, 3: "Mottak"}


def image(path, n, text):
    import numpy as np
    ds = burnin.base_ds(burnin.MG_CLASS, "MG", PID, "Nordmann^Kari",
                        "19610503", "20240601", "2.25.%d" % (77000 + n), n)
    rows, cols = 1024, 832
    img = burnin.mammogram(np.random.Generator(np.random.PCG64(n)), rows,
                           cols, "r")
    mask, _ = burnin.text_layer(rows, cols, text,
                                burnin.font(burnin.FONTS[0], 24), "tl",
                                False)
    img[mask] = 4095
    burnin.finish_mg(ds, img)
    ds.save_as(path, write_like_original=False)


def write_csv(path, invitation, diagnosis):
    header = ["fnr", "invitasjon_id", "screeningdato", "tetthet", "birads",
              "biopsi", "side", "tilbakekalt", "funn", "diagnosedato",
              "tumorstorrelse_mm"]
    row = [PID, invitation, "01.06.2024", "2", "4", "ja", "V", "ja",
           "tetthet", diagnosis, "12.5"]
    with open(path, "w") as f:
        f.write(";".join(header) + "\n" + ";".join(row) + "\n")
    # a new mtime whatever the clock's resolution
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))


def export(deidfs, src, dest, db, csv_path):
    report = str(dest) + ".report.json"
    r = run(deidfs, "export", "--db", db, "--csv", csv_path,
            "--with-quarantine", "--report", report, src, dest)
    assert r.returncode == 0, r.stderr
    with open(report) as f:
        rep = json.load(f)
    reasons = {}
    with open(os.path.join(dest, ".quarantine", "reasons.csv")) as f:
        for row in csv.DictReader(f):
            reasons[int(row["file"].rsplit("/", 1)[1][:-4])] = row
    return r, rep, reasons


def test_registry_values_in_the_pixels(deidfs, tmp_path):
    src = tmp_path / "src"
    os.makedirs(src)
    for n, text in SHOWN.items():
        image(str(src / ("%d.dcm" % n)), n, text)
    variables = tmp_path / "variables.csv"
    write_csv(variables, INVITATION, DIAGNOSIS)
    db = tmp_path / "p.db"
    r, rep, reasons = export(deidfs, src, tmp_path / "o1", db, variables)
    got = {n: reasons[n]["reason"] for n in reasons}
    assert got == {1: "burned-in-text:registry-value",
                   2: "burned-in-text:registry-date",
                   3: "burned-in-text:text"}, got
    for n in SHOWN:
        assert reasons[n]["rule"] == "text in the pixels"
        assert reasons[n]["attribute"] == "(7FE0,0010)"
    assert rep["quarantined_by_reason"].get(
        "burned-in-text:registry-value") == 1, rep["quarantined_by_reason"]
    assert rep["quarantined_by_reason"].get(
        "burned-in-text:registry-date") == 1
    # never the text: not in the report, the summary, the scans' rows
    c = sqlite3.connect(str(db))
    kept = c.execute("SELECT group_concat(regions, '|'), "
                     "group_concat(tokens, '|') FROM scans").fetchone()
    c.close()
    assert kept[1], "no digests kept"
    for text in (INVITATION, DIAGNOSIS, "20240814", "Mottak", "MOTTAK"):
        for where in (json.dumps(rep), r.stderr, kept[0], kept[1]):
            assert text not in where

    # verify builds the same view from the db: the same reasons
    v = run(deidfs, "verify", "--db", db, "--no-dciodvfy", tmp_path / "o1")
    assert v.returncode == 0, v.stdout + v.stderr

    # another CSV: no stale answer; the pixels are not read again
    c = sqlite3.connect(str(db))
    before = sorted(c.execute("SELECT path, tokens, us_ocr FROM scans"))
    c.close()
    write_csv(variables, "7000000001", "02.09.2024")
    _, _, reasons = export(deidfs, src, tmp_path / "o2", db, variables)
    got = {n: reasons[n]["reason"] for n in reasons}
    assert got == {1: "burned-in-text:text", 2: "burned-in-text:date",
                   3: "burned-in-text:text"}, got
    c = sqlite3.connect(str(db))
    assert sorted(c.execute("SELECT path, tokens, us_ocr FROM scans")) \
        == before
    c.close()
