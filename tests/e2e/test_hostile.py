"""
test_hostile.py - hostile and broken input, end to end (issue 4).

One source tree holds, beside a few valid files, every kind of malformed
DICOM file that tests/e2e/hostile.py makes (each cut at many offsets in
every region, lengths past EOF, huge lengths, undelimited undefined lengths,
deep nesting, wrong VRs, UN of undefined length, odd lengths, duplicate and
out-of-order tags, meta headers that lie, tiny files), a DICOMDIR, a
directory named *.dcm, names with invalid UTF-8 and newlines, symlinks (into
the tree, to a directory, out of the tree, dangling), a FIFO nobody writes
to, device nodes and a socket.  Every identifying text of every file holds a
unique marker.

The property, for `deidfs export --with-quarantine` and for `deidfs mount`:
every regular file is published, quarantined with a reason, or skipped
(DICOMDIR), as the report counts; no marker reaches any output byte, name,
the report, stdout or stderr; the run neither aborts nor hangs; nothing
outside the source tree is read.  Then the documented parser limits, at the
limit and one past it, and hostile registry CSVs.
"""

import csv
import io
import json
import os
import shutil
import socket
import sqlite3
import stat
import subprocess
import sys
import threading
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hostile as H  # noqa: E402
from conftest import read_reasons, run  # noqa: E402
from conftest import Mount, _fuse_usable, _ismount, _unmount  # noqa
from phi import find_phi  # noqa: E402

QUAR = ".quarantine"
RUN_TIMEOUT = 60            # seconds for any one deidfs run
OUTSIDE = "ZQXOUTSIDEMARK"  # planted only in files outside the source tree
SKIP = 100                  # status of a DICOMDIR in the index

# Needles: any marker (prefix), a piece of one, our UID root (original
# UIDs must all be replaced) and the outside marker.
NEEDLES = [H.MARKER_PREFIX, "ZQXHOS", H.UID_ROOT, OUTSIDE]


def deidfs_run(deidfs, *args, timeout=RUN_TIMEOUT):
    """Run deidfs; a hang fails the test (the child is killed)."""
    try:
        return run(deidfs, *args, timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail("deidfs %s did not finish within %ds"
                    % (args[0], timeout))


def slurp(path):
    with open(str(path), "rb") as f:
        return f.read()


def assert_no_abort(r):
    assert r.returncode >= 0, "killed by signal %d\n%s" % (-r.returncode,
                                                           r.stderr[-3000:])
    assert r.returncode in (0, 3), r.stderr[-3000:]


def index(db):
    """{source path (bytes): (status, view_path)} from the project db."""
    c = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    try:
        return {(p if isinstance(p, bytes) else p.encode()): (s, vp)
                for p, s, vp in c.execute(
                    "SELECT path, status, view_path FROM files")}
    finally:
        c.close()


def reasons_of(root):
    out = {}
    for r in read_reasons(os.path.join(str(root), QUAR, "reasons.csv")):
        assert r["file"] not in out, "listed twice: " + r["file"]
        assert r["rule"], r     # every reason names its rule
        out[r["file"]] = r["reason"]
    return out


def all_files(root):
    """Relative paths of every regular file below root (no symlinks)."""
    out = []
    for dp, dns, fns in os.walk(str(root)):
        for n in fns:
            p = os.path.join(dp, n)
            if os.path.isfile(p) and not os.path.islink(p):
                out.append(os.path.relpath(p, str(root)))
    return sorted(out)


# ------------------------------------------------------------ the tree

class Tree:
    pass


def _write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def build_tree(base, tests_data):
    """The hostile source tree under base/src and an outside tree under
    base/outside.  Returns a Tree with cases {relpath bytes: Case},
    regular (count), nonregular (count), dicomdir (count)."""
    t = Tree()
    t.src = os.path.join(str(base), "src")
    t.outside = os.path.join(str(base), "outside")
    bsrc = os.fsencode(t.src)
    t.cases = {}

    def put(rel, case):
        rel = os.fsencode(rel)
        _write(os.path.join(bsrc, rel), case.data)
        t.cases[rel] = case

    n = 1
    for kw in (dict(step=7, tag="cut"),
               dict(step=11, undef=False, tag="cutdef"),
               dict(step=13, ts=H.TS_IMPLICIT, tag="cutimpl")):
        cases, n = H.truncations(n, **kw)
        for c in cases:
            put("cuts/" + c.name, c)
    cases, n = H.malformed(n)
    for c in cases:
        put("malformed/" + c.name, c)

    def valid(rel):
        nonlocal n
        m = H.marker(n)
        c = H.Case(rel if isinstance(rel, bytes) else rel % m,
                   H.file_bytes(m, n), "publish", mark=m)
        n += 1
        put(c.name, c)
        return c

    t.valid = [valid("valid-%s.dcm") for _ in range(3)]
    valid("series.dcm/%s.dcm")                      # a directory *.dcm
    valid(b"bad-utf8-\xff\xfe\xc3(-" + H.marker(n).encode() + b".dcm")
    valid(b"new\nline-" + H.marker(n).encode() + b"\n.dcm")
    valid(b"dir-\xe6\xf8\n/" + H.marker(n).encode() + b".dcm")
    put("DICOMDIR", H.Case("DICOMDIR", (tests_data / "dicomdir" /
                                        "DICOMDIR").read_bytes(), "skip"))
    t.dicomdir = 1
    t.regular = len(t.cases)

    # outside the source tree: a valid file with the outside marker
    _write(os.path.join(t.outside, "secret.dcm"),
           H.file_bytes(OUTSIDE + "A", 99001))
    _write(os.path.join(t.outside, "dir", "secret2.dcm"),
           H.file_bytes(OUTSIDE + "B", 99002))

    t.nonregular = 0

    def special(make, name):
        try:
            make(os.path.join(t.src, name))
        except PermissionError:
            return
        t.nonregular += 1

    target = t.valid[0].name
    special(lambda p: os.symlink(target, p), "link-inside.dcm")
    special(lambda p: os.symlink("series.dcm", p), "link-dir.dcm")
    special(lambda p: os.symlink(os.path.join(t.outside, "secret.dcm"), p),
            "link-outside.dcm")
    special(lambda p: os.symlink("../outside/secret.dcm", p),
            "link-up.dcm")
    special(lambda p: os.symlink(os.path.join(t.outside, "dir"), p),
            "link-outside-dir")
    special(lambda p: os.symlink("no-such-file.dcm", p), "link-dangling.dcm")
    special(lambda p: os.symlink("link-loop.dcm", p), "link-loop.dcm")
    special(os.mkfifo, "fifo.dcm")
    special(os.mkfifo, "malformed/fifo2.dcm")
    special(lambda p: os.mknod(p, 0o644 | stat.S_IFCHR, os.makedev(1, 5)),
            "zero.dcm")                 # /dev/zero: reading never ends
    special(lambda p: os.mknod(p, 0o644 | stat.S_IFCHR, os.makedev(1, 3)),
            "null.dcm")
    special(lambda p: os.mknod(p, 0o644 | stat.S_IFBLK, os.makedev(7, 0)),
            "block.dcm")

    def sock(p):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(p)
        s.close()
    special(sock, "socket.dcm")
    return t


@pytest.fixture(scope="module")
def hostile(deidfs, tests_data, tmp_path_factory):
    base = tmp_path_factory.mktemp("hostile")
    t = build_tree(base, tests_data)
    t.base = base
    t.db = str(base / "project.db")
    t.dest = str(base / "export")
    t.report = str(base / "report.json")
    t0 = time.monotonic()
    t.run = deidfs_run(deidfs, "export", "--with-quarantine",
                       "--modalities", "all", "-j", "2", "--db", t.db,
                       "--report", t.report, t.src, t.dest)
    t.elapsed = time.monotonic() - t0
    assert_no_abort(t.run)
    with open(t.report) as f:
        t.rep = json.load(f)
    t.index = index(t.db)
    t.reasons = reasons_of(t.dest)
    return t


def test_export_finishes_cleanly(hostile):
    """No abort, no hang (the FIFO and /dev/zero node are never read), no
    I/O error: exit status 0."""
    assert hostile.run.returncode == 0, hostile.run.stderr[-3000:]
    assert hostile.rep["errors"] == 0
    assert hostile.elapsed < RUN_TIMEOUT


def _outcome(t, rel):
    """('publish', view path) | ('quarantine', reason) | ('skip', None)."""
    assert rel in t.index, "not indexed: %r" % rel
    status, vp = t.index[rel]
    if status == SKIP:
        assert vp is None
        return "skip", None
    assert vp, "indexed but not in the view: %r" % rel
    if vp.startswith(QUAR + "/"):
        name = vp[len(QUAR) + 1:]
        assert name in t.reasons, (rel, vp)
        return "quarantine", t.reasons[name]
    assert os.path.isfile(os.path.join(t.dest, vp)), (rel, vp)
    return "publish", vp


def test_every_file_published_quarantined_or_skipped(hostile):
    t = hostile
    wrong = []
    seen = {"publish": 0, "quarantine": 0, "skip": 0}
    regions = set()
    for rel, case in sorted(t.cases.items()):
        kind, detail = _outcome(t, rel)
        seen[kind] += 1
        if rel.startswith(b"cuts/"):
            regions.add(rel.split(b"-")[1])
        if case.expect == "skip" and kind != "skip":
            wrong.append((rel, case.expect, kind, detail))
        elif case.expect == "publish" and kind != "publish":
            wrong.append((rel, case.expect, kind, detail))
        elif case.expect == "quarantine" and (
                kind != "quarantine" or
                (case.reasons and detail not in case.reasons)):
            wrong.append((rel, case.expect, kind, detail))
    assert not wrong, wrong[:20]
    # the cuts reached every region of a file
    assert regions >= {b"preamble", b"magic", b"meta", b"header",
                       b"sequence", b"pixel"}, regions
    # each quarantined file is listed once with a reason; those that have
    # de-identified headers are there too; nothing else is in .quarantine
    q = {vp[len(QUAR) + 1:] for s, vp in t.index.values()
         if vp and vp.startswith(QUAR + "/")}
    assert set(t.reasons) == q
    qfiles = set(all_files(os.path.join(t.dest, QUAR))) - {"reasons.csv"}
    assert qfiles <= q
    assert seen["quarantine"] > 500 and seen["publish"] >= 7, seen


def test_nothing_else_is_indexed(hostile):
    """Exactly the regular files below the root are indexed: no symlink,
    FIFO, device, socket, nothing of the outside tree (not even through a
    link to it)."""
    t = hostile
    assert set(t.index) == set(t.cases)
    assert not any(b"outside" in p or b"link" in p for p in t.index)


def test_report_counts_add_up(hostile):
    t, rep = hostile, hostile.rep
    assert rep["files_seen"] == t.regular
    assert rep["files_analysed"] + rep["files_unchanged"] + \
        rep["errors"] == rep["files_seen"]
    assert rep["skipped"] == t.nonregular + t.dicomdir
    assert rep["exported"] + rep["quarantined"] + rep["unlinked_files"] + \
        t.dicomdir + rep["errors"] == rep["files_seen"]
    assert rep["quarantined"] == sum(rep["quarantined_by_reason"].values())
    assert rep["quarantined"] == len(t.reasons)
    published = [vp for s, vp in t.index.values()
                 if vp and not vp.startswith(QUAR + "/")]
    assert rep["exported"] == len(published)
    main = [f for f in all_files(t.dest) if not f.startswith(QUAR + "/")]
    assert sorted(main) == sorted(published)
    for reason, n in rep["quarantined_by_reason"].items():
        assert n == sum(1 for r in t.reasons.values() if r == reason), reason


def test_no_marker_in_any_output_report_or_stream(hostile):
    t = hostile
    hits = find_phi(t.dest, NEEDLES, extra_texts=[
        ("stdout", t.run.stdout), ("stderr", t.run.stderr),
        ("report", slurp(t.report))])
    assert not hits, hits[:20]


def test_links_out_of_the_tree_lead_nowhere(hostile):
    """Links to a file and a directory outside the tree (absolute and
    ../): the outside files are not indexed, and neither their marker nor
    their original UIDs (nor their keyed replacements: they would show
    that the file was read) reach the output."""
    t = hostile
    assert len(t.index) == t.regular
    hits = find_phi(t.dest, [OUTSIDE, H.uid(99001, 3), H.uid(99002, 3)])
    assert not hits, hits
    c = sqlite3.connect("file:%s?mode=ro" % t.db, uri=True)
    try:
        origs = {o for (o,) in c.execute("SELECT orig FROM uids")}
    finally:
        c.close()
    assert origs and not any(o.startswith(H.UID_ROOT + ".199")
                             for o in origs)


def test_published_outputs_parse(hostile):
    pydicom = pytest.importorskip("pydicom")
    t = hostile
    files = [f for f in all_files(t.dest) if f.endswith(".dcm")]
    assert files
    for f in files:
        ds = pydicom.dcmread(os.path.join(t.dest, f))
        assert ds.PatientIdentityRemoved == "YES", f
        assert len(str(ds.PatientID)) == 16, f


def test_rerun_is_unchanged_and_clean(hostile, deidfs):
    """A second run over the same tree analyses nothing again and writes
    the same report counts (the hostile files are indexed, not retried)."""
    t = hostile
    rep2 = str(t.base / "report2.json")
    r = deidfs_run(deidfs, "export", "-q", "--with-quarantine",
                   "--modalities", "all", "--db", t.db, "--report", rep2,
                   t.src, t.dest)
    assert r.returncode == 0, r.stderr
    with open(rep2) as f:
        rep = json.load(f)
    assert rep["files_analysed"] == 0
    assert rep["files_unchanged"] == t.regular
    for k in ("files_seen", "exported", "quarantined", "skipped"):
        assert rep[k] == t.rep[k], k
    assert not find_phi(None, NEEDLES, [r.stdout, r.stderr])


# ---------------------------------------------------------------- mount

class Mounted(Mount):
    """The harness's Mount with every modality allowed and its log at log;
    a daemon that does not exit after the unmount fails the test."""

    def __init__(self, deidfs, src, mnt, db, log, opts=()):
        super().__init__(deidfs, src, mnt, db,
                         opts=["--modalities", "all"] + list(opts))
        self.log = str(log)

    def __exit__(self, *exc):
        self.stop(strict=True)


def read_tree(mnt):
    """{relpath: bytes} of every file of the mount, .quarantine included,
    read in a thread: a read that hangs fails the test."""
    result = {}

    def read_all():
        got = {}
        for root in (mnt, os.path.join(mnt, QUAR)):
            for rel in all_files(root):
                with open(os.path.join(root, rel), "rb") as f:
                    got[os.path.relpath(os.path.join(root, rel),
                                        mnt)] = f.read()
        result["files"] = got

    th = threading.Thread(target=read_all, daemon=True)
    th.start()
    th.join(RUN_TIMEOUT)
    assert not th.is_alive(), "reading the mount hangs"
    assert "files" in result, "reading the mount failed"
    return result["files"]


def fresh_index(db, copy):
    """A copy of the db with the same key and an empty file index: a
    mount on it analyses every source file again, in the daemon."""
    shutil.copyfile(db, copy)
    c = sqlite3.connect(copy)
    try:
        c.execute("DELETE FROM audit")
        c.execute("DELETE FROM files")
        c.commit()
    finally:
        c.close()


@pytest.mark.skipif(_fuse_usable() is not None,
                    reason=_fuse_usable() or "")
def test_mount_reads_everything_without_hang_or_leak(hostile, deidfs):
    """Mount the hostile tree with the export's key but an empty index (so
    the daemon itself analyses every hostile file), read every file of the
    tree and of the hidden quarantine: it all arrives within the timeout,
    equals the export byte for byte, and holds no marker."""
    t = hostile
    db = str(t.base / "mount.db")
    fresh_index(t.db, db)
    mnt = str(t.base / "mnt")
    m = Mounted(deidfs, t.src, mnt, db, t.base / "mount.stderr")
    with m:
        got = read_tree(mnt)
        hits = find_phi(mnt, NEEDLES) + \
            find_phi(os.path.join(mnt, QUAR), NEEDLES)
        assert not hits, hits[:20]
    assert m.rc == 0, "mount exited with %d" % m.rc
    assert not find_phi(None, NEEDLES, [("mount stderr", slurp(m.log))])
    want = {f: slurp(os.path.join(t.dest, f)) for f in all_files(t.dest)}
    # quarantined files without a pseudonym are named by index row id,
    # which a second index numbers differently: compare their reasons
    reasons = os.path.join(QUAR, "reasons.csv")

    def reason_counts(b):
        return sorted((r["reason"], r["rule"], r["attribute"])
                      for r in read_reasons(b))
    assert reason_counts(got.pop(reasons)) == \
        reason_counts(want.pop(reasons))
    assert sorted(got) == sorted(want)
    diff = [f for f in want if got[f] != want[f]]
    assert not diff, diff[:10]


# --------------------------------------------------------------- limits
#
# include/dcm.h, fs/dicom_ds.c and fs/dicom_parse.c: sequence nesting
# DCM_MAX_DEPTH (16), DCM_MAX_ELEMENTS (200000) elements and items per file,
# DCM_MAX_VALUE (64 MiB) per header value, 4 * DCM_MAX_VALUE header bytes
# read; fs/view_index.c: directories nested WALK_MAX_DEPTH (64) deep.

MAX_DEPTH = 16
MAX_ELEMENTS = 200000
MAX_VALUE = 64 << 20
HEADER_LIMIT = 4 * MAX_VALUE
WALK_MAX_DEPTH = 64


def _export_one(deidfs, base, files, jobs=2):
    """Export a tree of {relpath: bytes or callable(path)}; returns
    {relpath: outcome} with outcome 'publish' or the quarantine reason."""
    src = os.path.join(str(base), "src")
    for rel, data in files.items():
        p = os.path.join(src, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        if callable(data):
            data(p)
        else:
            _write(p, data)
    db = os.path.join(str(base), "db")
    dest = os.path.join(str(base), "out")
    rep = os.path.join(str(base), "rep.json")
    r = deidfs_run(deidfs, "export", "--with-quarantine", "--modalities",
                   "all", "-j", str(jobs), "--db", db, "--report", rep,
                   src, dest)
    assert_no_abort(r)
    assert not find_phi(dest, NEEDLES, [r.stdout, r.stderr,
                                        slurp(rep)])
    idx = index(db)
    reasons = reasons_of(dest)
    out = {}
    for rel in files:
        st, vp = idx.get(rel.encode(), (None, None))
        if vp is None:
            out[rel] = "absent"
        elif vp.startswith(QUAR + "/"):
            out[rel] = reasons[vp[len(QUAR) + 1:]]
        else:
            out[rel] = "publish"
    return out, json.loads(slurp(rep))


def _with_nesting(n, depth):
    m = H.marker(n)
    els, px = H.split_pixel([e for e in H.base_dataset(m, n)
                             if e[0] != 0x00400275])
    return H.file_bytes(m, n, els) + H.nested_seq(depth, m) + \
        H.encode_ds(px)


def _with_elements(n, total):
    """A file with exactly total elements + items (the pixel data element
    is not counted): the base elements, one sequence, empty items."""
    m = H.marker(n)
    els, px = H.split_pixel([e for e in H.base_dataset(m, n)
                             if e[0] != 0x00400275])
    items = total - len(els) - 1
    seq = H.elem(0x00400275, "SQ", H.item_hdr(H.ITEM, 0) * items)
    return H.file_bytes(m, n, els) + seq + H.encode_ds(px)


def _sparse_writer(n, blobs):
    """A writer of a file whose header holds private OB values of the given
    sizes (zeros, written as holes), then the pixel data."""
    m = H.marker(n)
    els, px = H.split_pixel(H.base_dataset(m, n))

    def write(path):
        with open(path, "wb") as f:
            f.write(H.file_bytes(m, n, els))
            for i, size in enumerate(blobs):
                f.write(H.elem(0x7FD10010 + i, "OB", b"", length=size))
                f.seek(size, os.SEEK_CUR)
            f.write(H.encode_ds(px))
    return write


def _header_blobs(total):
    """Private value sizes (each <= MAX_VALUE) such that the header, up to
    and including the Pixel Data element header, is total bytes."""
    m = H.marker(1)
    els, px = H.split_pixel(H.base_dataset(m, 1))
    fixed = len(H.file_bytes(m, 1, els)) + 12      # + pixel element header
    room = total - fixed
    blobs = []
    while room > 0:
        size = min(MAX_VALUE, room - 12)
        blobs.append(size)
        room -= size + 12
    assert room == 0 and all(0 < b <= MAX_VALUE for b in blobs), blobs
    return blobs


def test_limits_nesting_elements_values_walk(deidfs, tmp_path):
    m = H.marker(70009)
    deep = "/".join(["d"] * WALK_MAX_DEPTH)
    files = {
        "depth-at.dcm": _with_nesting(70001, MAX_DEPTH),
        "depth-past.dcm": _with_nesting(70002, MAX_DEPTH + 1),
        "elements-at.dcm": _with_elements(70003, MAX_ELEMENTS),
        "elements-past.dcm": _with_elements(70004, MAX_ELEMENTS + 1),
        "value-at.dcm": _sparse_writer(70005, [MAX_VALUE]),
        "value-past.dcm": _sparse_writer(70006, [MAX_VALUE + 2]),
        deep + "/walk-at.dcm": H.file_bytes(m, 70009),
        deep + "/d/walk-past.dcm": H.file_bytes(H.marker(70010), 70010),
    }
    out, rep = _export_one(deidfs, tmp_path, files)
    assert out == {
        "depth-at.dcm": "publish",
        "depth-past.dcm": "unparseable",
        "elements-at.dcm": "publish",
        "elements-past.dcm": "unparseable",
        "value-at.dcm": "publish",
        "value-past.dcm": "unparseable",
        deep + "/walk-at.dcm": "publish",
        deep + "/d/walk-past.dcm": "absent",
    }
    assert rep["skipped"] == 1      # the directory past the walk depth


@pytest.mark.skipif(bool(os.environ.get("ASAN_OPTIONS") or
                         os.environ.get("TSAN_OPTIONS")),
                    reason="256 MiB headers take minutes under sanitizers; "
                           "the plain build runs this")
@pytest.mark.skipif(_fuse_usable() is not None,
                    reason=_fuse_usable() or "")
def test_limit_header_bytes(deidfs, tmp_path):
    """A header of exactly 4 * DCM_MAX_VALUE bytes (through the Pixel Data
    element header) is read; two bytes more are not.  The values are holes
    in sparse files, but every byte is still read and copied, so this runs
    in a mount, which analyses each file once (an export analyses a
    published file twice: index, then write)."""
    src = tmp_path / "src"
    src.mkdir()
    _sparse_writer(70007, _header_blobs(HEADER_LIMIT))(
        str(src / "header-at.dcm"))
    _sparse_writer(70008, _header_blobs(HEADER_LIMIT + 2))(
        str(src / "header-past.dcm"))
    db = tmp_path / "db"
    mnt = str(tmp_path / "mnt")
    m = Mounted(deidfs, src, mnt, db, tmp_path / "log", ["-j", "2"])
    with m:
        listed = all_files(mnt)
        reasons = reasons_of(mnt)
    assert m.rc == 0
    idx = index(str(db))
    st, vp = idx[b"header-at.dcm"]
    assert listed == [vp], (listed, vp)
    st, vp = idx[b"header-past.dcm"]
    assert reasons == {vp[len(QUAR) + 1:]: "unparseable"}


# ------------------------------------------------------------------ CSV

def _csv_tree(base):
    """Three valid files whose PatientIDs are CSV personal IDs."""
    src = os.path.join(str(base), "src")
    pids = []
    for i in range(3):
        n = 80001 + i
        m = H.marker(n)
        _write(os.path.join(src, "f%d.dcm" % i), H.file_bytes(m, n))
        pids.append(m + "PID")
    return src, pids


def _row(pid, k, date="15.01.2020", diag="03.03.2020", kept=None):
    """A default-layout row: a marker in the dropped column 2, plain
    values (or kept) in the copied columns 4-9."""
    kept = kept or ["v4", "v5", "v6", "v7", "v8", "v9"]
    return ";".join([pid, "%sINV%d" % (H.MARKER_PREFIX, k), date] + kept +
                    [diag])


def _csv_cases(pids):
    """name -> (bytes, expected exit status, expected reports
    [(row, reason substring)], expected output rows or None,
    extra needles that must not appear in the output CSV)."""
    p1, p2, p3 = pids
    hdr = H.CSV_HEADER
    ok = [_row(p1, 1), _row(p2, 2)]
    okout = 2
    bad_kept = ["%sKEPT%d" % (H.MARKER_PREFIX, i) for i in range(6)]

    def lines(*ls, end="\n"):
        return (end.join(ls) + end).encode("latin-1")

    return {
        "ok": (lines(hdr, *ok), 0, [], okout),
        # a row with too few and one with too many columns: reported by
        # number, not written (their copied columns carry markers)
        "wrong-columns": (lines(hdr, ok[0],
                                ";".join([p2, "X", "15.01.2020"] +
                                         bad_kept[:3]),
                                _row(p3, 3, kept=bad_kept) + ";extra"),
                          0, [(3, "wrong column count"),
                              (4, "wrong column count")], 1),
        "quotes": (lines(hdr, ok[0],
                         '"%s";"%sINV;""q""";15.01.2020;"a;b";"multi\nline";'
                         '"""";v7;v8;v9;03.03.2020' % (p2, H.MARKER_PREFIX)),
                   0, [], 2),
        "unterminated-quote": (lines(hdr, ok[0],
                                     '%s;"%sOPEN;15.01.2020;v4' %
                                     (p2, H.MARKER_PREFIX)),
                               1, [(3, "quoted field not closed")], None),
        "crlf": (lines(hdr, *ok, end="\r\n"), 0, [], okout),
        "bom": (b"\xef\xbb\xbf" + lines(hdr, *ok), 0, [], okout),
        "latin1": (lines(hdr, ok[0],
                         _row(p2, 2, kept=["v\xe6rdi", "\xf8", "\xe5",
                                           "7", "8", "9"])),
                   0, [], 2),
        "empty-lines": (lines(hdr, "", ok[0], "   ", "", ok[1], ""), 0, [],
                        okout),
        "duplicate-rows": (lines(hdr, ok[0], ok[0], ok[1]), 0,
                           [(3, "same personal ID and key date as row 2")],
                           3),
        "missing-id": (lines(hdr, ok[0], _row("", 2, kept=bad_kept),
                             _row("   ", 3, kept=bad_kept)),
                       0, [(3, "missing or invalid personal ID"),
                           (4, "missing or invalid personal ID")], 1),
        "bad-key-date": (lines(hdr, ok[0], _row(p2, 2, date="31.02.2020",
                                               kept=bad_kept)),
                         0, [(3, "column 3")], 1),
        "bad-other-date": (lines(hdr, ok[0], _row(p2, 2, diag="2020-03-03")),
                           0, [(3, "column 10")], 2),
        "two-columns": (lines("a;b", "%s;%sINV" % (p1, H.MARKER_PREFIX)),
                        1, [(None, "needs column 10")], None),
        "four-columns": (lines("a;b;c;d", "%s;X;15.01.2020;v" % p1), 1,
                         [(None, "needs column 10")], None),
        "empty-file": (b"", 1, [(None, "empty")], None),
        "blank-file": (b"\xef\xbb\xbf\r\n\n  \n", 1, [(None, "empty")],
                       None),
        "header-only": (lines(hdr), 0, [], 0),
    }


@pytest.fixture(scope="module")
def csv_env(deidfs, tmp_path_factory):
    base = tmp_path_factory.mktemp("csv")
    src, pids = _csv_tree(base)
    db = str(base / "db")
    # index once; every CSV run below reuses it
    r = deidfs_run(deidfs, "export", "-q", "--modalities", "all", "--db", db,
                   src, str(base / "first"))
    assert r.returncode == 0, r.stderr
    # the plain CSV's output, for the variants that must give the same
    ok = base / "plain.csv"
    ok.write_bytes(_csv_cases(pids)["ok"][0])
    r = deidfs_run(deidfs, "export", "-q", "--modalities", "all", "--db", db,
                   "--csv", ok, src, str(base / "plain"))
    assert r.returncode == 0, r.stderr
    plain = (base / "plain" / "cleaned_variables.csv").read_bytes()
    return base, src, pids, db, plain


@pytest.mark.parametrize("name", sorted(_csv_cases(["a", "b", "c"])))
def test_csv(csv_env, deidfs, name):
    base, src, pids, db, plain = csv_env
    data, rc, reports, nrows = _csv_cases(pids)[name]
    path = base / (name + ".csv")
    path.write_bytes(data)
    dest = base / ("out-" + name)
    rep = base / ("rep-" + name + ".json")
    r = deidfs_run(deidfs, "export", "--modalities", "all", "--db", db,
                   "--csv", path, "--report", rep, src, dest)
    assert r.returncode == rc, r.stderr
    # clear reports: each expected (row, reason) on a line of its own
    lines = r.stderr.splitlines()
    for row, why in reports:
        want = [ln for ln in lines if why in ln and
                (row is None or "row %d:" % row in ln)]
        assert want, (row, why, lines)
    if rc == 0:         # and no other row reports
        rowlines = [ln for ln in lines
                    if ln.startswith("deidfs: registry row ")]
        assert len(rowlines) == len(reports), lines
    # nothing identifying anywhere: not the IDs, not the dropped column,
    # not the copied columns of rows that were not written
    texts = [("stdout", r.stdout), ("stderr", r.stderr)]
    if rep.exists():
        texts.append(("report", rep.read_bytes()))
    hits = find_phi(str(dest) if dest.exists() else None,
                    NEEDLES + pids, texts)
    assert not hits, hits[:20]
    if rc != 0:
        assert r.stderr.strip(), "an error needs a message"
        assert not (dest / "cleaned_variables.csv").exists()
        return
    out = (dest / "cleaned_variables.csv").read_bytes()
    assert out.endswith(b"\n") and b"\r" not in out
    rows = list(csv.reader(io.StringIO(out.decode("latin-1"), newline=""),
                           delimiter=";"))
    assert rows[0] == ["personnummer", "screeningdato", "var4", "var5",
                       "var6", "var7", "var8", "var9", "diagnosedato",
                       "view_folder"]
    assert len(rows) - 1 == nrows, out
    assert all(len(row) == 10 for row in rows), rows
    if name == "quotes":
        assert rows[2][2:5] == ["a;b", "multi\nline", '"']
    if name == "latin1":
        assert b"v\xe6rdi;\xf8;\xe5" in out       # copied byte for byte
    if name in ("ok", "crlf", "bom", "empty-lines"):
        assert out == plain
