"""
test_burnin.py - the burned-in text scan (issue 14), end to end, on the
images of burnin.py: identifying text (names with Æ/Ø/Å, personal IDs,
dates; four fonts, cap heights from 14 px, all four corners, light on dark
and dark on light) in 16-bit MG and 8-bit RGB OT images in every transfer
syntax of the corpus, harmless markers, clean images, a multi-frame image
with text on its last frame only.

- every identifying image is quarantined as burned-in-text:<kind>, at
  least 95 % of the harmless and clean ones are published, and the text
  never reaches a report, a log or the db;
- results are kept per source version: a re-run with other options reads
  no pixels again, a changed source is read again;
- the mount decides the same as the export;
- --no-scan publishes them (so it is the scan that quarantines);
- a worker that crashes or hangs costs that file only (make scantest: a
  test build whose worker crashes or spins on pixel data starting with
  CRASH!!! or HANGHANG).

The figures (detected, published, kinds told) are printed; BENCHMARKS.md
records them.
"""

import csv
import io
import json
import os
import sqlite3
import sys
import time
import unicodedata

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from conftest import Mount, _fuse_usable, run  # noqa: E402

import burnin  # noqa: E402

needs_tesseract = pytest.mark.skipif(not burnin.have_tesseract(),
                                     reason=burnin.NO_TESSERACT)
needs_fuse = pytest.mark.skipif(_fuse_usable() is not None,
                                reason=_fuse_usable() or "")
pytestmark = needs_tesseract


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    base = tmp_path_factory.mktemp("burnin")
    recs = burnin.make_set(str(base / "src"))
    return base, recs


def export(deidfs, src, dest, db, *extra):
    report = str(dest) + ".report.json"
    r = run(deidfs, "export", "--db", db, "--with-quarantine", "--report",
            report, *extra, src, dest)
    assert r.returncode == 0, r.stderr
    with open(report) as f:
        rep = json.load(f)
    return r, rep


def outcome(dest):
    """{instance number: reason or "published"} of an export (the default
    layout names a file by its instance number; burnin.py numbers them)."""
    out = {}
    with open(os.path.join(dest, ".quarantine", "reasons.csv")) as f:
        for row in csv.DictReader(f):
            out[int(row["file"].rsplit("/", 1)[1][:-4])] = row["reason"]
    for dp, _, fns in os.walk(dest):
        if ".quarantine" in dp:
            continue
        for fn in fns:
            if fn.endswith(".dcm"):
                out[int(fn[:-4])] = "published"
    return out


def number(rec):
    return int(os.path.basename(rec["path"]).split("_")[0])


def forms(text):
    """The planted text as it might be written anywhere: as is, upper
    case, without diacritics."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore")
    out = {text.encode(), text.upper().encode(), plain, plain.upper()}
    for part in text.replace(",", " ").split():
        if len(part) >= 4:
            out.add(part.encode())
            out.add(part.upper().encode())
    return out


def test_identifying_quarantined_clean_published(deidfs, images, tmp_path):
    base, recs = images
    dest = tmp_path / "out"
    db = tmp_path / "p.db"
    t0 = time.monotonic()
    r, rep = export(deidfs, base / "src", dest, db)
    took = time.monotonic() - t0
    got = outcome(str(dest))
    ident = [x for x in recs if x["expect"] == "quarantine"]
    clean = [x for x in recs if x["expect"] == "publish"]
    missed = [os.path.basename(x["path"]) for x in ident
              if not got[number(x)].startswith("burned-in-text:")]
    published = [x for x in clean if got[number(x)] == "published"]
    kind_told = [x for x in ident
                 if got[number(x)] == "burned-in-text:" + x["kind"]]
    print("\nburn-in scan: %d/%d identifying quarantined, %d/%d harmless "
          "or clean published, kind of match told for %d/%d, %.1f s"
          % (len(ident) - len(missed), len(ident), len(published),
             len(clean), len(kind_told), len(ident), took))
    assert not missed, missed
    assert len(published) >= 0.95 * len(clean), \
        [(os.path.basename(x["path"]), got[number(x)]) for x in clean
         if got[number(x)] != "published"]
    # every transfer syntax and both modalities were read
    for ts in burnin.TRANSFER_SYNTAXES:
        for mod in ("MG", "OT"):
            assert any(x["ts"] == ts and x["modality"] == mod
                       for x in ident)
    # the text itself is nowhere: not in what deidfs said, its report or
    # reasons, nor in what the db keeps of the scan
    said = (r.stdout + r.stderr).encode("utf-8", "surrogateescape")
    with open(str(dest) + ".report.json", "rb") as f:
        said += f.read()
    with open(os.path.join(dest, ".quarantine", "reasons.csv"), "rb") as f:
        said += f.read()
    c = sqlite3.connect(str(db))
    rows = c.execute("SELECT * FROM scans").fetchall()
    c.close()
    assert len(rows) == len(recs)
    kept = repr(rows).encode()
    for x in ident:
        for f in forms(x["text"]):
            assert f not in said and f not in kept, \
                os.path.basename(x["path"])


def scans(db):
    c = sqlite3.connect(str(db))
    rows = sorted(c.execute("SELECT rowid, path, kinds, regions FROM scans"))
    c.close()
    return rows


def test_kept_per_source_version(deidfs, images, tmp_path):
    """A re-run with another option analyses every file again but reads no
    pixels again; a source that changed is read again, alone."""
    base, recs = images
    src = tmp_path / "src"
    os.makedirs(src)
    few = [x for x in recs if x["ts"] in ("explicit", "j2k")]
    for x in few:
        os.link(x["path"], src / os.path.basename(x["path"]))
    db = tmp_path / "p.db"
    _, rep1 = export(deidfs, src, tmp_path / "o1", db)
    before = scans(db)
    assert len(before) == len(few)
    _, rep2 = export(deidfs, src, tmp_path / "o2", db, "--modalities",
                     "MG,OT,CT")
    assert rep2["files_analysed"] == len(few)      # re-analysed...
    assert scans(db) == before                     # ...not re-read
    assert outcome(str(tmp_path / "o2")) == outcome(str(tmp_path / "o1"))
    # a new version of one source: read again, the others not
    changed = src / os.path.basename(few[0]["path"])
    data = changed.read_bytes()
    os.unlink(changed)
    changed.write_bytes(data)
    export(deidfs, src, tmp_path / "o3", db, "--modalities", "MG,OT,CT")
    after = scans(db)
    assert len(after) == len(before)
    assert sum(a != b for a, b in zip(before, after)) >= 1
    same = [a for a in after if a in before]
    assert len(same) == len(before) - 1


@needs_fuse
def test_mount_decides_as_export(deidfs, images, tmp_path):
    base, recs = images
    src = tmp_path / "src"
    os.makedirs(src)
    few = [x for x in recs if x["ts"] in ("rle", "jpeg-lossy")]
    for x in few:
        os.link(x["path"], src / os.path.basename(x["path"]))
    export(deidfs, src, tmp_path / "out", tmp_path / "e.db")
    want = (tmp_path / "out" / ".quarantine" / "reasons.csv").read_bytes()
    with Mount(deidfs, src, tmp_path / "mnt", tmp_path / "m.db") as m:
        with open(os.path.join(m.mnt, ".quarantine", "reasons.csv"),
                  "rb") as f:
            got = f.read()
        published = sorted(
            os.path.relpath(os.path.join(dp, f), m.mnt)
            for dp, _, fns in os.walk(m.mnt) for f in fns
            if f.endswith(".dcm"))
    # the same files, quarantined for the same reasons (names differ only
    # by the db's key)
    def shape(b):
        return sorted(line.split(b",")[1] for line in b.splitlines()[1:])
    assert shape(got) == shape(want)
    assert len(published) == sum(x["expect"] == "publish" for x in few)


def test_no_scan_publishes_them(deidfs, images, tmp_path):
    base, recs = images
    src = tmp_path / "src"
    os.makedirs(src)
    few = [x for x in recs if x["ts"] == "explicit"]
    for x in few:
        os.link(x["path"], src / os.path.basename(x["path"]))
    _, rep = export(deidfs, src, tmp_path / "out", tmp_path / "p.db",
                    "--no-scan")
    assert rep["exported"] == len(few)
    assert rep["quarantined"] == 0


def fault_image(path, first, n):
    """An uncompressed MG whose pixel data starts with the 8 bytes first
    (16 bits stored, so no bit of them is masked)."""
    import numpy as np
    ds = burnin.base_ds(burnin.MG_CLASS, "MG", "7%010d" % n, "Test^Fault",
                        "19700101", "20240601", "2.25.77%d" % n, n)
    img = np.full((256, 256), 100, dtype="<u2")
    if first:
        img.reshape(-1)[:4] = np.frombuffer(first, dtype="<u2")
    burnin.finish_mg(ds, img)
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.save_as(str(path), write_like_original=False)


def test_worker_crash_and_hang_cost_one_file(repo, tmp_path):
    r = run("make", "-s", "-C", str(repo), "scantest", timeout=900)
    assert r.returncode == 0, r.stderr
    deidfs = str(repo / "build" / "scantest" / "deidfs")
    src = tmp_path / "src"
    os.makedirs(src)
    fault_image(src / "a.dcm", None, 1)
    fault_image(src / "b.dcm", b"CRASH!!!", 2)
    fault_image(src / "c.dcm", None, 3)
    fault_image(src / "d.dcm", b"HANGHANG", 4)
    fault_image(src / "e.dcm", None, 5)
    # waits 5 s of wall clock without CPU (a loaded machine): the timeout
    # counts the worker's CPU time, so it is scanned as on an idle one
    fault_image(src / "f.dcm", b"SLOWSLOW", 6)
    t0 = time.monotonic()
    _, rep = export(deidfs, src, tmp_path / "out", tmp_path / "p.db",
                    "--scan-timeout", "3", "-j", "2")
    took = time.monotonic() - t0
    got = outcome(str(tmp_path / "out"))
    assert got == {1: "published", 2: "unreadable-pixels", 3: "published",
                   4: "unreadable-pixels", 5: "published",
                   6: "published"}, got
    assert took < 60
    assert rep["errors"] == 0


# ------------------------------------------------------------ masking

def gray8(a):
    """A frame as 8-bit gray, stretched over its own range."""
    import numpy as np
    if a.ndim == 3:
        a = a[..., 0] * 0.3 + a[..., 1] * 0.59 + a[..., 2] * 0.11
    a = a.astype(np.float64)
    lo, hi = a.min(), a.max()
    return ((a - lo) * 255 / max(hi - lo, 1)).astype(np.uint8)


def frame_of(ds, k):
    a = ds.pixel_array
    n = int(getattr(ds, "NumberOfFrames", 1) or 1)
    return a[k] if n > 1 else a


def read_corner(a, corner, tmp):
    """What the tesseract command reads in the corner of frame a (a third
    of its height, half its width), doubled, in two page modes."""
    from PIL import Image
    g = gray8(a)
    rows, cols = g.shape
    h, w = rows // 3, cols // 2
    y = 0 if corner[0] == "t" else rows - h
    x = 0 if corner[1] == "l" else cols - w
    img = Image.fromarray(g[y:y + h, x:x + w]).resize((2 * w, 2 * h))
    p = str(tmp) + ".png"
    img.save(p)
    out = ""
    for psm in ("6", "11"):
        r = run("tesseract", p, "-", "-l", "eng+nor", "--psm", psm)
        out += r.stdout + "\n"
    os.unlink(p)
    return out


def found(text, ocr):
    """Whether a planted string (in any of its forms) is in what OCR read,
    compared without case and diacritics."""
    def norm(s):
        s = unicodedata.normalize("NFKD", s).encode("ascii", "ignore")
        return s.decode().upper()
    got = norm(ocr)
    return any(norm(f.decode("utf-8", "ignore")) in got
               for f in forms(text))


def mask_regions(db):
    """{source name: [(frame, x, y, w, h)]} from the audit trail."""
    c = sqlite3.connect(str(db))
    rows = c.execute("SELECT f.path, CAST(a.new AS TEXT) FROM audit a "
                     "JOIN files f ON f.id = a.file_id "
                     "WHERE a.action = 'mask-burned-in'").fetchall()
    c.close()
    out = {}
    for path, v in rows:
        w = v.split()
        out.setdefault(os.path.basename(bytes(path).decode()
                                        if isinstance(path, bytes)
                                        else path), []).append(
            tuple(int(w[i]) for i in (1, 3, 5, 7, 9)))
    return out


def published_by_number(dest):
    out = {}
    for dp, _, fns in os.walk(dest):
        if ".quarantine" in dp:
            continue
        for fn in fns:
            if fn.endswith(".dcm"):
                out[int(fn[:-4])] = os.path.join(dp, fn)
    return out


def test_mask_burned_in(deidfs, images, tmp_path):
    """--mask-burned-in: identifying text in native pixel data (explicit
    VR, deflated, a multi-frame image) is painted over and the file
    published; compressed ones stay in quarantine.  In the masked
    outputs the tesseract command reads none of the planted strings
    (it reads them in the sources); every pixel outside the regions the
    audit trail records is the source's; dciodvfy says what it says of
    the same file unmasked; a mount gives the export's bytes."""
    import numpy as np
    import pydicom
    base, recs = images
    src = tmp_path / "src"
    os.makedirs(src)
    few = [x for x in recs if x["ts"] in ("explicit", "deflated", "rle")]
    for x in few:
        os.link(x["path"], src / os.path.basename(x["path"]))
    db = tmp_path / "p.db"
    dest = tmp_path / "out"
    export(deidfs, src, dest, db, "--mask-burned-in")
    got = outcome(str(dest))
    regions = mask_regions(db)
    pub = published_by_number(str(dest))
    # the same export unmasked, same db: same headers
    plain = tmp_path / "plain"
    export(deidfs, src, plain, db, "--no-scan")
    plain_pub = published_by_number(str(plain))
    masked = [x for x in few if x["expect"] == "quarantine" and
              x["ts"] != "rle"]
    assert masked
    read_in_source = 0
    for x in few:
        name = os.path.basename(x["path"])
        n = number(x)
        if x["ts"] == "rle" and x["expect"] == "quarantine":
            assert got[n].startswith("burned-in-text:"), name
            continue
        assert got[n] == "published", (name, got[n])
        if x["expect"] == "publish":
            continue
        assert regions.get(name), name
        out = pydicom.dcmread(pub[n])
        ref = pydicom.dcmread(x["path"])
        # outside the regions: the source's pixels, every frame
        nf = int(getattr(ref, "NumberOfFrames", 1) or 1)
        for k in range(nf):
            a, b = frame_of(ref, k), frame_of(out, k)
            inside = np.zeros(a.shape[:2], dtype=bool)
            for fr, rx, ry, rw, rh in regions[name]:
                if fr == k:
                    inside[ry:ry + rh, rx:rx + rw] = True
            diff = a != b
            if diff.ndim == 3:
                diff = diff.any(axis=2)
            assert not (diff & ~inside).any(), name
            if k == x["frame"]:
                assert diff.any(), name   # something was painted
        # the planted text: read in the source, not in the output
        if found(x["text"], read_corner(frame_of(ref, x["frame"]),
                                        x["corner"], tmp_path / "s")):
            read_in_source += 1
        assert not found(x["text"], read_corner(
            frame_of(out, x["frame"]), x["corner"], tmp_path / "o")), name
        # the header is the unmasked export's, and so is what dciodvfy
        # says of the file
        with open(pub[n], "rb") as f1, open(plain_pub[n], "rb") as f2:
            d1, d2 = f1.read(), f2.read()
        assert len(d1) == len(d2)
        v1 = run("dciodvfy", pub[n]).stderr
        v2 = run("dciodvfy", plain_pub[n]).stderr
        assert v1.replace(pub[n], "F") == v2.replace(plain_pub[n], "F"), \
            name
    # the check means something: OCR reads most planted strings in the
    # sources
    assert read_in_source >= len(masked) // 2, (read_in_source,
                                                len(masked))
    print("\nmasked: %d files published masked, planted text read in %d "
          "of their sources, in none of the outputs"
          % (len(masked), read_in_source))
    if _fuse_usable() is None:
        # a mount of the same db makes every map at its open (the
        # index is unchanged: nothing is analysed before): the bytes
        # are the export's
        with Mount(deidfs, src, tmp_path / "mnt", db,
                   opts=["--mask-burned-in"]) as m:
            for dp, _, fns in os.walk(str(dest)):
                if ".quarantine" in dp:
                    continue
                for fn in fns:
                    p = os.path.join(dp, fn)
                    rel = os.path.relpath(p, str(dest))
                    with open(p, "rb") as f1, \
                            open(os.path.join(m.mnt, rel), "rb") as f2:
                        assert f1.read() == f2.read(), rel


def test_text_block_and_inverted_mammogram(deidfs, tmp_path):
    """Two ways a review found to publish a woman's name: a corner block
    of several short lines (one tall candidate box, which was read at a
    quarter of its size and came back empty), and a mammogram displayed
    inverted (bright background, dark breast), whose bright background
    was taken for the breast so that the text in it was never looked at.
    Both are quarantined as burned-in text."""
    from PIL import Image, ImageDraw
    np = burnin.np
    rng = np.random.default_rng(5)
    src = tmp_path / "src" / "w"
    src.mkdir(parents=True)
    name, pid = "NORDMANN^KARI", "01027512345"
    rows, cols = 2048, 1664
    lines = ["NORDMANN KARI", "ID " + pid, "F 1975-02-01",
             "13.03.2013 MAMMO", "ST OLAVS HOSPITAL", "ACC 7788123",
             "OPERATOR HANSEN", "ROOM 4"]
    for n, (cap, inverted) in enumerate(((13, False), (18, False),
                                         (26, False), (26, True)), 1):
        img = burnin.mammogram(rng, rows, cols, "l")
        layer = Image.new("L", (cols, rows), 0)
        d = ImageDraw.Draw(layer)
        fnt = burnin.font("DejaVuSans.ttf", cap)
        y = rows // 25
        for text in lines:
            x0, y0, x1, y1 = d.textbbox((0, 0), text, font=fnt)
            d.text((cols - cols // 25 - (x1 - x0) - x0, y - y0), text,
                   font=fnt, fill=255)
            y += (y1 - y0) + cap // 2
        img = np.where(np.asarray(layer) > 127, 4000, img)
        if inverted:
            img = 4095 - img
        ds = burnin.base_ds("1.2.840.10008.5.1.4.1.1.1.2", "MG", pid, name,
                            "19750201", "20130313", "1.2.826.0.1.3680043.10.1013.77",
                            n)
        burnin.finish_mg(ds, img)
        ds.save_as(str(src / ("%d.dcm" % n)), write_like_original=False)
    dest = tmp_path / "out"
    export(deidfs, tmp_path / "src", dest, tmp_path / "p.db")
    got = outcome(str(dest))
    assert sorted(got) == [1, 2, 3, 4], got
    for n in (1, 2, 3, 4):
        assert got[n].startswith("burned-in-text:"), (n, got[n])
