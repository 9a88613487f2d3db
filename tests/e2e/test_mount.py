"""
test_mount.py - `deidfs mount` end to end: a real kernel FUSE mount of the
test archive, checked against `deidfs export` of the same view (same db,
same options), byte for byte, and against the sources for pixel data.

Run as root with /usr/bin/python3 -m pytest tests/e2e/test_mount.py.
Skipped when /dev/fuse or fusermount3 is missing.
"""

import errno
import hashlib
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from conftest import (MOUNT_TIMEOUT, Mount, _fuse_usable,  # noqa: E402
                      _ismount, _unmount, decoded_pixels, run)
from phi import find_phi  # noqa: E402

pydicom = pytest.importorskip("pydicom")

QUAR = ".quarantine"
_why = _fuse_usable()
pytestmark = pytest.mark.skipif(_why is not None, reason=_why or "")


def export(deidfs, source, dest, db, csv=None, opts=()):
    a = [deidfs, "export", "-q", "--db", db]
    if csv:
        a += ["--csv", csv]
    r = run(*(a + list(opts) + [source, dest]))
    assert r.returncode in (0, 3), r.stderr
    return r


def tree(root, quarantine=False):
    """{relpath: (kind, size, mtime_ns, ino)} of everything listed below
    root (readdir: .quarantine only when it is listed)."""
    out = {}
    root = str(root)
    for dp, dns, fns in os.walk(root):
        for n in dns + fns:
            p = os.path.join(dp, n)
            st = os.lstat(p)
            rel = os.path.relpath(p, root)
            out[rel] = ("d" if os.path.isdir(p) else "f",
                        0 if os.path.isdir(p) else st.st_size,
                        st.st_mtime_ns, st.st_ino)
    return out


def files_of(root):
    return sorted(k for k, v in tree(root).items() if v[0] == "f")


def read(p):
    with open(p, "rb") as f:
        return f.read()


def sha(p):
    return hashlib.sha256(read(p)).hexdigest()


def checksums(root):
    return {f: sha(os.path.join(str(root), f)) for f in files_of(root)}


def db_rows(db):
    """(source path bytes, view path, header_len) of files in the view."""
    c = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    try:
        return [(bytes(p) if not isinstance(p, str) else p.encode(), vp, hl)
                for p, vp, hl in c.execute(
                    "SELECT path, view_path, header_len FROM files "
                    "WHERE view_path IS NOT NULL")]
    finally:
        c.close()


def assert_same_tree(a, b, check_mtime=True):
    ta, tb = tree(a), tree(b)
    assert sorted(ta) == sorted(tb)
    for k in ta:
        assert ta[k][0] == tb[k][0], k
        if ta[k][0] == "f":
            assert ta[k][1] == tb[k][1], k
            assert read(os.path.join(str(a), k)) == \
                read(os.path.join(str(b), k)), k
        if check_mtime:
            assert ta[k][2] == tb[k][2], k


# --------------------------------------------------- the shared mount

class Env:
    pass


@pytest.fixture(scope="module")
def env(deidfs, archive, tmp_path_factory):
    e = Env()
    base = tmp_path_factory.mktemp("mount")
    e.base = base
    e.deidfs = deidfs
    e.archive = archive
    e.db = str(base / "project.db")
    e.src = str(archive.identified)
    e.csv = str(archive.csv)
    e.src_sums = checksums(e.src)
    e.mount = Mount(deidfs, e.src, base / "mnt", e.db, csv=e.csv,
                    logdir=base)
    e.mount.start()
    e.mnt = e.mount.mnt
    try:
        e.exp = str(base / "export")
        e.expq = str(base / "export-q")
        export(deidfs, e.src, e.exp, e.db, e.csv)
        export(deidfs, e.src, e.expq, e.db, e.csv, ["--with-quarantine"])
        yield e
    finally:
        e.mount.stop()


def test_tree_equals_plain_export(env):
    """Names, sizes, bytes and mtimes of the listed tree (and the CSV)
    equal a plain export of the same view."""
    assert_same_tree(env.mnt, env.exp)
    assert "cleaned_variables.csv" in os.listdir(env.mnt)
    assert any(f.endswith(".dcm") for f in files_of(env.mnt))


def test_quarantine_equals_export_with_quarantine(env):
    assert_same_tree(os.path.join(env.mnt, QUAR),
                     os.path.join(env.expq, QUAR))
    st = os.stat(os.path.join(env.mnt, QUAR))
    assert st.st_mtime_ns == os.stat(os.path.join(env.expq, QUAR)).st_mtime_ns


def test_quarantine_hidden_but_reachable(env, tmp_path):
    assert QUAR not in os.listdir(env.mnt)
    r = run("find", env.mnt, check=True)
    assert QUAR not in r.stdout
    r = run("ls", "-aR", env.mnt, check=True)
    assert QUAR not in r.stdout
    dst = tmp_path / "rs"
    run("rsync", "-a", env.mnt + "/", str(dst) + "/", check=True)
    assert not (dst / QUAR).exists()
    q = os.listdir(os.path.join(env.mnt, QUAR))
    assert "reasons.csv" in q
    qfiles = files_of(os.path.join(env.mnt, QUAR))
    assert any(f.endswith(".dcm") for f in qfiles), qfiles
    hits = find_phi(os.path.join(env.mnt, QUAR), env.archive.strings)
    assert not hits, hits[:20]


def test_attributes(env):
    uid, gid = os.getuid(), os.getgid()
    inos = set()
    for root in (env.mnt, os.path.join(env.mnt, QUAR)):
        for rel, (kind, size, mt, ino) in tree(root).items():
            p = os.path.join(root, rel)
            st = os.stat(p)
            assert (st.st_uid, st.st_gid) == (uid, gid)
            assert st.st_ino not in inos, rel
            inos.add(st.st_ino)
            assert st.st_mtime_ns == st.st_atime_ns == st.st_ctime_ns
            if kind == "d":
                assert st.st_mode & 0o7777 == 0o555, rel
                subdirs = [n for n in os.listdir(p)
                           if os.path.isdir(os.path.join(p, n))]
                assert st.st_nlink == 2 + len(subdirs), rel
            else:
                assert st.st_mode & 0o7777 == 0o444, rel
                assert st.st_nlink == 1
                assert st.st_blocks == (st.st_size + 511) // 512
                assert st.st_blksize == 128 * 1024
    st = os.stat(env.mnt)
    assert st.st_ino == 1 and st.st_mode & 0o7777 == 0o555
    # files even, directories odd; the generated texts in the range no
    # DICOM file has (view.h: file id 0, 4 + (slot << 41), the CSV's slot
    # odd, reasons.csv's even)
    for rel, (kind, size, mt, ino) in tree(env.mnt, True).items():
        assert ino % 2 == (1 if kind == "d" else 0), rel
        if rel.endswith(".dcm"):
            assert ((ino - 4) // 2) & ((1 << 40) - 1), rel
    assert _text_slot(os.path.join(env.mnt, "cleaned_variables.csv")) % 2 == 1
    assert _text_slot(os.path.join(env.mnt, QUAR, "reasons.csv")) % 2 == 0
    vfs = os.statvfs(env.mnt)
    assert vfs.f_flag & os.ST_RDONLY


def test_no_xattrs(env):
    f = os.path.join(env.mnt, files_of(env.mnt)[0])
    assert os.listxattr(f) == []
    with pytest.raises(OSError) as ei:
        os.getxattr(f, "user.anything")
    assert ei.value.errno == errno.ENODATA


def test_every_file_parses(env):
    dcms = [os.path.join(r, f)
            for r in (env.mnt, os.path.join(env.mnt, QUAR))
            for f in files_of(r) if f.endswith(".dcm")]
    assert dcms
    for p in dcms:
        ds = pydicom.dcmread(p)
        assert "PixelData" in ds, p
        r = run("dcmdump", "-q", p)
        assert r.returncode == 0, (p, r.stderr)
        assert "E:" not in r.stderr, (p, r.stderr)


def _render(path, out):
    # -O: overlays are removed by de-identification (PS3.15 group 60xx)
    r = run("dcm2pnm", "-O", "+Wm", "+op", path, out)
    return r.returncode == 0 and os.path.exists(out)


def _pixels_equal(src, view_file, tmp):
    a = os.path.join(tmp, "a.pnm")
    b = os.path.join(tmp, "b.pnm")
    for p in (a, b):
        if os.path.exists(p):
            os.unlink(p)
    if _render(src, a):
        assert _render(view_file, b), view_file
        assert read(a) == read(b), view_file
        return "dcm2pnm"
    ds_s = pydicom.dcmread(src, force=True)
    ds_v = pydicom.dcmread(view_file)
    if "PixelData" not in ds_s:
        assert "PixelData" not in ds_v, view_file
        return "none"
    try:
        pa = ds_s.pixel_array
    except Exception:
        pa = None
    if pa is not None:
        assert (pa == ds_v.pixel_array).all(), view_file
        return "pydicom"
    # compressed data whose comments deidfs blanked: GDCM decodes both
    assert decoded_pixels(src) == decoded_pixels(view_file), view_file
    return "gdcm"


def test_renders_equal_sources(env, tmp_path):
    rows = db_rows(env.db)
    assert rows
    n = 0
    for src, vp, _ in rows:
        vf = os.path.join(env.mnt, vp)
        if not vp.endswith(".dcm") or not os.path.exists(vf):
            continue
        s = os.path.join(os.fsencode(env.src), src)
        try:
            pydicom.dcmread(os.fsdecode(s), stop_before_pixels=True)
        except Exception:
            continue        # a broken source has no render to compare
        _pixels_equal(os.fsdecode(s), vf, str(tmp_path))
        n += 1
    assert n > 0


def test_sample_files_pixels(deidfs, tests_data, tmp_path):
    """The real sample files (compressed syntaxes, big endian, no meta):
    whatever the mount serves has the sources' pixels."""
    src = tmp_path / "src"
    src.mkdir()
    for f in os.listdir(str(tests_data)):
        if f.endswith(".dcm"):
            shutil.copy(str(tests_data / f), str(src / f))
    db = str(tmp_path / "s.db")
    kinds = {}
    with Mount(deidfs, src, tmp_path / "mnt", db,
               opts=["--modalities", "all"]) as m:
        for s, vp, _ in db_rows(db):
            vf = os.path.join(m.mnt, vp)
            if not vp.endswith(".dcm"):
                continue
            assert os.path.exists(vf), vp
            data = read(vf)
            assert len(data) == os.stat(vf).st_size
            try:
                pydicom.dcmread(vf, stop_before_pixels=True)
            except Exception:
                continue
            kinds[vp] = _pixels_equal(os.fsdecode(os.path.join(
                os.fsencode(str(src)), s)), vf, str(tmp_path))
        assert m.stop() == 0
    assert kinds, "no sample file was served"


def _minor_faults(pid):
    """Minor page faults of every thread of a process so far."""
    with open("/proc/%d/stat" % pid) as f:
        return int(f.read().rsplit(")", 1)[1].split()[7])


@pytest.mark.skipif(bool(os.environ.get("ASAN_OPTIONS") or
                         os.environ.get("TSAN_OPTIONS")),
                    reason="the sanitizers' allocators never reuse freed "
                           "memory at once; the plain build runs this")
def test_open_reuses_header_memory(deidfs, tests_data, tmp_path):
    """Each open parses the source header and writes a new one in memory.
    With a 1 MiB overlay plane in the header, that is hundreds of pages per
    open; they must come from memory the daemon already has (freed by the
    previous open), not be faulted in fresh each time: first-touch faults
    made every such open cost about 5 ms on these machines, when the data
    path itself costs a fraction of that."""
    src = tmp_path / "src"
    src.mkdir()
    ds = pydicom.dcmread(str(tests_data / "MR_small.dcm"))
    ds.add_new(0x60000010, "US", 1024)
    ds.add_new(0x60000011, "US", 1024)
    ds.add_new(0x60000100, "US", 1)
    ds.add_new(0x60000102, "US", 0)
    ds.add_new(0x60003000, "OW", bytes(range(256)) * 4096)   # 1 MiB
    ds.save_as(str(src / "overlay.dcm"))
    header_pages = (1 << 20) // 4096
    with Mount(deidfs, src, tmp_path / "mnt", tmp_path / "o.db",
               opts=["--modalities", "all"]) as m:
        (rel,) = [f for f in files_of(m.mnt) if f.endswith(".dcm")]
        vf = os.path.join(m.mnt, rel)

        def open_once():
            fd = os.open(vf, os.O_RDONLY)
            try:
                assert os.pread(fd, 132, 0)[128:] == b"DICM"
            finally:
                os.close(fd)
        for _ in range(50):     # every worker thread has run an open
            open_once()
        before = _minor_faults(m.proc.pid)
        for _ in range(20):
            open_once()
        faults = _minor_faults(m.proc.pid) - before
        assert m.stop() == 0
    # Without reuse each open faults in the header at least twice (read
    # buffer and copy): 750 faults an open.  With it, none, except in an
    # arena glibc gives a worker thread libfuse starts meanwhile (about
    # 800 once): far below one header per open on average.
    assert faults < 20 * header_pages, faults


def _rchar(pid):
    """Bytes a process has read so far (any file)."""
    with open("/proc/%d/io" % pid) as f:
        return int(dict(ln.split(": ") for ln in f.read().splitlines())
                   ["rchar"])


def test_slow_open_does_not_hold_up_other_requests(deidfs, tests_data,
                                                   tmp_path):
    """One worker at a time receives requests and answers the quick ones
    itself; an open that parses the source header (the first of a file
    after mounting) hands the receiving on first.  So while a slow open runs (a header of 128 MiB of private
    values), a listing and a whole read of another file are answered: both
    finish before that open does."""
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(str(tests_data / "MR_small.dcm"), str(src / "small.dcm"))
    ds = pydicom.dcmread(str(tests_data / "MR_small.dcm"))
    ds.PatientID = "SLOWOPEN1"
    ds.SOPInstanceUID = pydicom.uid.generate_uid()
    ds.add_new(0x00990010, "LO", "DEIDFS TEST")
    for i in range(2):
        ds.add_new(0x00991000 + i, "OB", bytes(64 << 20))
    ds.save_as(str(src / "slow.dcm"))
    db = str(tmp_path / "s.db")
    # indexed by a first mount: the second one starts with no header
    # made, and its first open of slow.dcm parses it
    with Mount(deidfs, src, tmp_path / "mnt", db,
               opts=["--modalities", "all"]) as m:
        assert m.stop() == 0
    with Mount(deidfs, src, tmp_path / "mnt", db,
               opts=["--modalities", "all"]) as m:
        view = {os.fsdecode(s): vp for s, vp, _ in db_rows(db)}
        slow, fast = [view["slow.dcm"]], view["small.dcm"]
        assert sorted(files_of(m.mnt)) == sorted([slow[0], fast])
        fast_bytes = read(os.path.join(m.mnt, fast))
        done = {}

        def open_slow():
            fd = os.open(os.path.join(m.mnt, slow[0]), os.O_RDONLY)
            done["slow"] = time.monotonic()
            os.close(fd)
        t = threading.Thread(target=open_slow)
        base = _rchar(m.proc.pid)
        t.start()
        # until the daemon is well into the slow header
        deadline = time.monotonic() + 60
        while _rchar(m.proc.pid) - base < (16 << 20):
            assert time.monotonic() < deadline and "slow" not in done
            time.sleep(0.001)
        assert "slow" not in done, "the header was parsed too fast to test"
        listed = sorted(os.listdir(m.mnt))
        fd = os.open(os.path.join(m.mnt, fast), os.O_RDONLY)
        try:
            got = os.pread(fd, len(fast_bytes) + 1, 0)
        finally:
            os.close(fd)
        done["fast"] = time.monotonic()
        t.join(timeout=120)
        assert m.stop() == 0
    assert listed and got == fast_bytes
    assert done["fast"] < done["slow"], done


def test_next_files_of_a_folder_made_ahead(deidfs, tests_data, tmp_path):
    """When a file is opened, the maps of the next four files of its
    folder are made in the background (issue 13): opening them then reads
    nothing of their headers.  Each header carries 1 MiB of private bytes
    so the daemon's reads show which headers it parsed, and when."""
    src = tmp_path / "src"
    src.mkdir()
    ds = pydicom.dcmread(str(tests_data / "MR_small.dcm"))
    ds.PatientID = "AHEAD1"
    ds.StudyInstanceUID = pydicom.uid.generate_uid()
    ds.SeriesInstanceUID = pydicom.uid.generate_uid()
    ds.add_new(0x00990010, "LO", "DEIDFS TEST")
    for i in range(7):
        ds.SOPInstanceUID = pydicom.uid.generate_uid()
        ds.InstanceNumber = i + 1
        ds.add_new(0x00991000, "OB", bytes([i]) * (1 << 20))
        ds.save_as(str(src / ("%d.dcm" % i)))
    db = str(tmp_path / "a.db")
    MiB = 1 << 20
    # indexed by a first mount: the second one starts with no map made
    with Mount(deidfs, src, tmp_path / "mnt", db,
               opts=["--modalities", "all"]) as m:
        assert m.stop() == 0
    with Mount(deidfs, src, tmp_path / "mnt", db,
               opts=["--modalities", "all"]) as m:
        files = files_of(m.mnt)
        assert len(files) == 7
        assert len({os.path.dirname(f) for f in files}) == 1
        base = _rchar(m.proc.pid)
        read(os.path.join(m.mnt, files[0]))
        # the next four are made ahead: about 4 MiB more read, soon
        deadline = time.monotonic() + 60
        while _rchar(m.proc.pid) - base < 5 * MiB:
            assert time.monotonic() < deadline, \
                (_rchar(m.proc.pid) - base) / MiB
            time.sleep(0.01)
        time.sleep(0.2)
        ahead = _rchar(m.proc.pid)
        assert ahead - base < 6 * MiB       # not the sixth
        for f in files[1:5]:
            fd = os.open(os.path.join(m.mnt, f), os.O_RDONLY)
            os.close(fd)
        # their opens parse nothing; they queue files[5] and files[6],
        # made ahead in turn: 2 MiB read in all, where parsing at the
        # opens would have read 4 MiB more
        settled, last = time.monotonic() + 60, -1
        while _rchar(m.proc.pid) != last:
            assert time.monotonic() < settled
            last = _rchar(m.proc.pid)
            time.sleep(0.3)
        assert last - ahead < 2.5 * MiB, (last - ahead) / MiB
        assert m.stop() == 0


def test_odd_reads(env):
    rows = {vp: hl for _, vp, hl in db_rows(env.db)}
    rng = random.Random(1234)
    checked = 0
    for rel in files_of(env.mnt):
        p, q = os.path.join(env.mnt, rel), os.path.join(env.exp, rel)
        want = read(q)
        size = len(want)
        hl = rows.get(rel)
        offs = [(0, 1), (0, size), (size - 1, 1), (size - 1, 100),
                (size, 1), (size + 4096, 10), (size // 2, 3)]
        if hl:
            offs += [(hl - 1, 2), (hl - 1, 1), (hl, 1), (hl - 7, 13),
                     (max(0, hl - 4096), 8192)]
        for _ in range(20):
            o = rng.randrange(0, size + 10)
            offs.append((o, rng.choice((1, 2, 3, 511, 4095, 4097, 65537))))
        fd = os.open(p, os.O_RDONLY)
        try:
            for o, n in offs:
                if o < 0:
                    continue
                assert os.pread(fd, n, o) == want[o:o + n], (rel, o, n)
            # 1-byte sequential reads of the first bytes
            os.lseek(fd, 0, os.SEEK_SET)
            got = b"".join(os.read(fd, 1) for _ in range(min(300, size)))
            assert got == want[:len(got)]
        finally:
            os.close(fd)
        checked += 1
    assert checked


def test_direct_io_reads_at_boundary(env):
    """O_DIRECT bypasses the page cache: every read reaches the daemon
    and its bufvec (header memory + source fd) at the exact offsets."""
    import mmap
    rows = {vp: hl for _, vp, hl in db_rows(env.db)}
    rel = next(r for r in files_of(env.mnt) if rows.get(r))
    p, want = os.path.join(env.mnt, rel), read(os.path.join(env.exp, rel))
    try:
        fd = os.open(p, os.O_RDONLY | os.O_DIRECT)
    except OSError as e:
        pytest.skip("O_DIRECT not supported here: %s" % e)
    try:
        buf = mmap.mmap(-1, 1 << 16)
        n = os.preadv(fd, [buf], 0)
        assert buf[:n] == want[:n]
        assert n == min(len(want), 1 << 16)
    finally:
        os.close(fd)


def test_concurrent_readers(env):
    files = files_of(env.mnt) + [os.path.join(QUAR, f) for f in
                                 files_of(os.path.join(env.mnt, QUAR))]
    want = {}
    for f in files:
        base = env.expq if f.startswith(QUAR) else env.exp
        want[f] = sha(os.path.join(base, f))
    errors = []

    def reader(seed):
        rng = random.Random(seed)
        order = files[:]
        rng.shuffle(order)
        for _ in range(3):
            for f in order:
                h = hashlib.sha256()
                with open(os.path.join(env.mnt, f), "rb",
                          buffering=0) as fh:
                    while True:
                        b = fh.read(rng.choice((1000, 4096, 65536, 1 << 20)))
                        if not b:
                            break
                        h.update(b)
                if h.hexdigest() != want[f]:
                    errors.append(f)
                # drop the cache now and then so reads reach the daemon
                if rng.random() < 0.3:
                    fd = os.open(os.path.join(env.mnt, f), os.O_RDONLY)
                    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                    os.close(fd)

    th = [threading.Thread(target=reader, args=(i,)) for i in range(8)]
    for t in th:
        t.start()
    for t in th:
        t.join()
    assert not errors, errors[:10]


def _erofs(fn, *a):
    with pytest.raises(OSError) as ei:
        fn(*a)
    assert ei.value.errno == errno.EROFS, (fn.__name__, ei.value)


def test_writes_refused(env):
    m = env.mnt
    # a DICOM file, in a directory of the view (not the mount point,
    # whose rename the parent file system answers with EBUSY)
    f = os.path.join(m, next(x for x in files_of(m) if "/" in x))
    d = os.path.dirname(f)
    csv = os.path.join(m, "cleaned_variables.csv")
    before = checksums(m)
    for flags in (os.O_WRONLY, os.O_RDWR, os.O_WRONLY | os.O_APPEND,
                  os.O_RDONLY | os.O_TRUNC, os.O_WRONLY | os.O_TRUNC):
        _erofs(os.open, f, flags)
        _erofs(os.open, csv, flags)
    _erofs(os.open, os.path.join(m, "new.dcm"), os.O_WRONLY | os.O_CREAT,
           0o644)
    _erofs(os.open, os.path.join(d, "new.dcm"),
           os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
    _erofs(os.mkdir, os.path.join(m, "newdir"))
    _erofs(os.rename, f, f + ".x")
    _erofs(os.rename, d, d + ".x")
    _erofs(os.unlink, f)
    _erofs(os.rmdir, d)
    _erofs(os.chmod, f, 0o644)
    _erofs(os.chown, f, 1, 1)
    _erofs(os.truncate, f, 0)
    _erofs(os.utime, f, (0, 0))
    _erofs(os.setxattr, f, "user.x", b"1")
    _erofs(os.removexattr, f, "user.x")
    _erofs(os.symlink, "x", os.path.join(m, "lnk"))
    _erofs(os.link, f, os.path.join(m, "hard"))
    _erofs(os.mknod, os.path.join(m, "fifo"), 0o600 | 0o010000)
    assert checksums(m) == before
    assert checksums(env.src) == env.src_sums


def test_rsync_twice_transfers_nothing(env, tmp_path):
    dst = str(tmp_path / "copy") + "/"
    r = run("rsync", "-a", "--stats", env.mnt + "/", dst, check=True)
    assert "Number of regular files transferred: 0" not in r.stdout
    r = run("rsync", "-a", "--stats", env.mnt + "/", dst, check=True)
    assert "Number of regular files transferred: 0" in r.stdout, r.stdout
    assert_same_tree(dst, env.exp)


def test_rsync_onto_export_transfers_nothing(env, tmp_path):
    dst = str(tmp_path / "exp")
    shutil.copytree(env.exp, dst)
    r = run("rsync", "-rt", "--stats", env.mnt + "/", dst + "/", check=True)
    assert "Number of regular files transferred: 0" in r.stdout, r.stdout


def test_no_phi_in_mount(env):
    hits = find_phi(env.mnt, env.archive.strings)
    assert not hits, hits[:20]
    hits = find_phi(os.path.join(env.mnt, QUAR), env.archive.strings)
    assert not hits, hits[:20]
    texts = [("ls -aR", run("ls", "-aR", env.mnt).stdout),
             ("find", run("find", env.mnt, os.path.join(env.mnt, QUAR))
              .stdout)]
    hits = find_phi(None, env.archive.strings, extra_texts=texts)
    assert not hits, hits[:20]


def test_remount_no_refresh_same_tree(env):
    before = {**tree(env.mnt),
              **{QUAR + "/" + k: v
                 for k, v in tree(os.path.join(env.mnt, QUAR)).items()}}
    with Mount(env.deidfs, env.src, env.base / "mnt2", env.db, csv=env.csv,
               opts=["--no-refresh"]) as m:
        after = {**tree(m.mnt),
                 **{QUAR + "/" + k: v
                    for k, v in tree(os.path.join(m.mnt, QUAR)).items()}}
        assert after == before
        assert os.stat(m.mnt).st_mtime_ns == os.stat(env.mnt).st_mtime_ns
        assert m.stop() == 0


def test_uid_gid_option(env):
    with Mount(env.deidfs, env.src, env.base / "mnt3", env.db, csv=env.csv,
               opts=["--no-refresh", "-o", "uid=1234,gid=5678"]) as m:
        for p in (m.mnt, os.path.join(m.mnt, files_of(m.mnt)[0])):
            st = os.stat(p)
            assert (st.st_uid, st.st_gid) == (1234, 5678)
        assert m.stop() == 0


def test_daemon_mode(env):
    """Without -f the command returns once the tree is complete."""
    mnt = str(env.base / "mnt4")
    os.makedirs(mnt, exist_ok=True)
    try:
        r = run(env.deidfs, "mount", "-q", "--db", env.db, "--csv", env.csv,
                env.src, mnt)
        assert r.returncode == 0, r.stderr
        assert _ismount(mnt)
        assert files_of(mnt) == files_of(env.exp)
        hits = find_phi(None, env.archive.strings,
                        extra_texts=[("stderr", r.stderr),
                                     ("stdout", r.stdout)])
        assert not hits, hits
    finally:
        _unmount(mnt)
    assert not _ismount(mnt)


def test_background_mount_warns_through_syslog(deidfs, archive_copy,
                                               tmp_path):
    """A mount in the background has no stderr: its warnings go to syslog
    (here a socket the test binds at /dev/log), with the pid, and carry no
    identifying value.  The warning: a source rewritten while open."""
    import socket
    if os.path.exists("/dev/log"):
        pytest.skip("a system logger owns /dev/log here")
    log = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    log.bind("/dev/log")
    log.settimeout(0.2)
    mnt = str(tmp_path / "mnt")
    db = str(tmp_path / "p.db")
    os.makedirs(mnt)
    try:
        r = run(deidfs, "mount", "--db", db, "--csv", archive_copy.csv,
                archive_copy.identified, mnt)
        assert r.returncode == 0, r.stderr
        src, vp = _published(db)[0]
        with open(os.path.join(mnt, vp), "rb") as f:
            f.read(1)
            with open(os.path.join(os.fsencode(str(archive_copy.identified)),
                                   src), "ab") as g:
                g.write(b"\0\0")
            # what the first read cached must not answer the next
            os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
            with pytest.raises(OSError) as e:
                os.pread(f.fileno(), 1 << 20, 0)
            assert e.value.errno == errno.EIO
        got = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and \
                not any("source changed while open" in m for m in got):
            try:
                got.append(log.recv(4096).decode("utf-8", "replace"))
            except socket.timeout:
                pass
        warned = [m for m in got if "source changed while open" in m]
        assert warned, got
        assert re.search(r"^<28>.*deidfs\[\d+\]: inode \d+: source changed "
                         r"while open: EIO$", warned[0]), warned[0]
        hits = find_phi(None, archive_copy.strings,
                        extra_texts=[("syslog", "\n".join(got))])
        assert not hits, hits
    finally:
        _unmount(mnt)
        log.close()
        os.unlink("/dev/log")


def test_sigterm_clean_exit(env):
    m = Mount(env.deidfs, env.src, env.base / "mnt5", env.db, csv=env.csv,
              opts=["--no-refresh"], logdir=env.base)
    m.start()
    try:
        m.proc.send_signal(signal.SIGTERM)
        rc = m.proc.wait(timeout=30)
        assert rc == 0, m.stderr
        assert not _ismount(m.mnt)
    finally:
        m.stop()


def test_bad_mountpoint_message(env, tmp_path):
    r = run(env.deidfs, "mount", "--db", env.db, env.src,
            str(tmp_path / "does-not-exist"))
    assert r.returncode == 1
    assert "mount point" in r.stderr and "directory" in r.stderr
    r = run(env.deidfs, "mount", "--db", env.db, "-o", "uid=abc", env.src,
            str(tmp_path))
    assert r.returncode == 2
    assert "uid" in r.stderr
    assert not _ismount(str(tmp_path))


def test_bad_fuse_options_before_anything_is_done(env, tmp_path):
    """-o options are checked with the command line, before the index is
    refreshed or a db is created: a bad uid= or gid=, and the options of
    libfuse's own session loop, which deidfs does not use, and an option
    libfuse does not know (exit 2, a usage error, as for every bad -o
    option)."""
    db = tmp_path / "new.db"
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    for opt, what in (("uid=abc", "uid"), ("gid=-1", "gid"),
                      ("clone_fd", "clone_fd"),
                      ("max_threads=4", "max_threads"),
                      ("allow_other,bogusopt", "`-o bogusopt'")):
        r = run(env.deidfs, "mount", "-f", "--db", db, "-o", opt, env.src,
                str(mnt))
        assert r.returncode == 2, (opt, r.stderr)
        assert what in r.stderr, (opt, r.stderr)
        assert "files seen" not in r.stderr, "indexed before the check"
        assert not db.exists(), opt
        assert not _ismount(str(mnt))


class ForegroundByOption(Mount):
    """A mount started without -f."""

    def argv(self, foreground=True):
        return Mount.argv(self, foreground=False)


def test_o_debug_is_d(env, tmp_path):
    """-o debug is libfuse's spelling of -d: the daemon stays in the
    foreground (Mount.start() waits for the process, which would have
    returned on going to the background) and traces the requests."""
    m = ForegroundByOption(env.deidfs, env.src, tmp_path / "mnt", env.db,
                           opts=["--no-refresh", "-o", "debug"],
                           logdir=tmp_path)
    with m:
        os.listdir(m.mnt)
        assert m.proc.poll() is None, "went to the background"
        assert m.stop() == 0
    assert "opcode: OPENDIR" in m.stderr, m.stderr


def test_zz_shared_mount_clean_exit_and_quiet_stderr(env):
    assert env.mount.stop() == 0
    assert not _ismount(env.mnt)
    hits = find_phi(None, env.archive.strings,
                    extra_texts=[("daemon stderr", env.mount.stderr)])
    assert not hits, hits


# ------------------------------------------- changes to the source tree

def _published(db):
    return [(s, vp) for s, vp, _ in db_rows(db)
            if not vp.startswith(QUAR) and vp.endswith(".dcm")]


def _change_pixels(path):
    """Change the last 16 bytes (pixel data) in place, same size."""
    with open(path, "r+b") as f:
        f.seek(-16, os.SEEK_END)
        old = f.read(16)
        f.seek(-16, os.SEEK_END)
        f.write(bytes((b ^ 0x5A) for b in old))
    st = os.stat(path)
    # a distinct mtime even on coarse clocks
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 2_000_000_000))


def _add_copy(src_path, new_path):
    from pydicom.uid import generate_uid
    ds = pydicom.dcmread(src_path)
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.InstanceNumber = int(ds.get("InstanceNumber", 1)) + 50
    ds.save_as(new_path)


def _changes(archive_copy, db):
    pub = _published(db)
    src = os.fsencode(str(archive_copy.identified))
    (x_src, x_vp), (z_src, z_vp) = pub[0], pub[-1]
    x = os.fsdecode(os.path.join(src, x_src))
    z = os.fsdecode(os.path.join(src, z_src))
    y = os.path.join(os.path.dirname(x), "added-instance.dcm")
    _change_pixels(x)
    _add_copy(os.fsdecode(os.path.join(src, pub[1][0])), y)
    os.unlink(z)
    return x_vp, z_vp


def test_remount_reflects_source_changes(deidfs, archive_copy, tmp_path):
    db = str(tmp_path / "c.db")
    src, csv = str(archive_copy.identified), str(archive_copy.csv)
    with Mount(deidfs, src, tmp_path / "mnt", db, csv=csv) as m:
        before = tree(m.mnt)
        x_vp = _published(db)[0][1]
        old_x = read(os.path.join(m.mnt, x_vp))
        assert m.stop() == 0
    x2_vp, z_vp = _changes(archive_copy, db)
    assert x2_vp == x_vp
    with Mount(deidfs, src, tmp_path / "mnt", db, csv=csv) as m:
        exp = str(tmp_path / "exp")
        export(deidfs, src, exp, db, csv)
        assert_same_tree(m.mnt, exp)
        after = tree(m.mnt)
        # a new version is a new inode (the kernel caches pages by
        # inode: one inode for two versions would let a reader of the old
        # one see pages of the new); files that did not change keep theirs
        assert after[x_vp][3] != before[x_vp][3]
        for k, v in before.items():
            if k in after and k != x_vp and v[0] == "f" and \
                    k.endswith(".dcm"):
                assert after[k][3] == v[3], k
        assert read(os.path.join(m.mnt, x_vp)) != old_x
        assert z_vp not in after
        assert len([k for k in after if k.endswith(".dcm")]) == \
            len([k for k in before if k.endswith(".dcm")])
        assert m.stop() == 0


def test_live_change_rebuilds(deidfs, archive_copy, tmp_path):
    """Opening a file whose source changed since the index rebuilds the
    view while mounted: new content under a new inode (a new version),
    removed entry gone, added entry listed."""
    db = str(tmp_path / "c.db")
    src, csv = str(archive_copy.identified), str(archive_copy.csv)
    with Mount(deidfs, src, tmp_path / "mnt", db, csv=csv) as m:
        before = tree(m.mnt)
        for k, v in before.items():     # fill the kernel caches
            if v[0] == "f":
                read(os.path.join(m.mnt, k))
        x_vp, z_vp = _changes(archive_copy, db)
        ino = os.stat(os.path.join(m.mnt, x_vp)).st_ino
        new_x = read(os.path.join(m.mnt, x_vp))     # triggers the rebuild
        exp = str(tmp_path / "exp")
        export(deidfs, src, exp, db, csv)
        assert new_x == read(os.path.join(exp, x_vp))
        assert os.stat(os.path.join(m.mnt, x_vp)).st_ino != ino
        assert not os.path.exists(os.path.join(m.mnt, z_vp))
        assert_same_tree(m.mnt, exp)
        assert m.stop() == 0
        hits = find_phi(None, archive_copy.strings,
                        extra_texts=[("stderr", m.stderr)])
        assert not hits, hits


def test_kept_maps_serve_only_their_version(deidfs, archive_copy,
                                           tmp_path):
    """The mount keeps the header it made for a file (issue 13): a second
    open parses nothing.  A header-only change of the source, same size,
    mtime restored (as cp -p or rsync -t leave it), must still give the
    new header on the next open, through the same mount; and an unchanged
    file opened again gives its bytes unchanged."""
    db = str(tmp_path / "c.db")
    src, csv = str(archive_copy.identified), str(archive_copy.csv)
    root = os.fsencode(src)
    with Mount(deidfs, src, tmp_path / "mnt", db, csv=csv) as m:
        pub = _published(db)
        (x_src, x_vp), (y_src, y_vp) = pub[0], pub[1]
        x = os.path.join(root, x_src)
        with open(x, "rb") as f:
            assert b"VB60A" in f.read()
        first = {vp: read(os.path.join(m.mnt, vp)) for vp in (x_vp, y_vp)}
        for vp in (x_vp, y_vp):     # the maps are kept by now
            assert read(os.path.join(m.mnt, vp)) == first[vp]
        assert b"VB60A" in first[x_vp]      # SoftwareVersions is kept
        st = os.stat(x)
        with open(x, "r+b") as f:
            data = f.read()
            f.seek(data.index(b"VB60A"))
            f.write(b"VB60B")
        os.utime(x, ns=(st.st_atime_ns, st.st_mtime_ns))
        assert os.stat(x).st_size == st.st_size
        new_x = read(os.path.join(m.mnt, x_vp))
        assert b"VB60B" in new_x and b"VB60A" not in new_x
        assert read(os.path.join(m.mnt, x_vp)) == new_x
        assert read(os.path.join(m.mnt, y_vp)) == first[y_vp]
        exp = str(tmp_path / "exp")
        export(deidfs, src, exp, db, csv)
        assert new_x == read(os.path.join(exp, x_vp))
        assert m.stop() == 0


def test_csv_change_rebuilds(deidfs, archive_copy, tmp_path):
    db = str(tmp_path / "c.db")
    src, csv = str(archive_copy.identified), str(archive_copy.csv)
    with Mount(deidfs, src, tmp_path / "mnt", db, csv=csv) as m:
        cpath = os.path.join(m.mnt, "cleaned_variables.csv")
        old = read(cpath)
        lines = read(csv).split(b"\n")
        with open(csv, "wb") as f:      # drop the last data row
            f.write(b"\n".join(lines[:-2] + [b""]) if lines[-1] == b""
                    else b"\n".join(lines[:-1]) + b"\n")
        new = read(cpath)
        exp = str(tmp_path / "exp")
        export(deidfs, src, exp, db, csv)
        assert new == read(os.path.join(exp, "cleaned_variables.csv"))
        assert new != old
        assert os.stat(cpath).st_size == len(new)
        assert m.stop() == 0


def _text_slot(p):
    """The slot of a generated text's inode (view.h), checking its form."""
    ino = os.stat(p).st_ino
    assert ino % 2 == 0 and (ino - 4) % (1 << 41) == 0 and ino < 1 << 63, ino
    return (ino - 4) >> 41


def _csv_filled(raw, ch, n=3000):
    """raw (the registry CSV) with the last column of every data row
    (free text) set to n times ch: a cleaned CSV of several pages whose
    versions differ on every page and have the same size."""
    lines = raw.split(b"\n")
    for i in range(1, len(lines)):
        if lines[i]:
            cells = lines[i].split(b";")
            cells[-1] = ch * n
            lines[i] = b";".join(cells)
    return b"\n".join(lines)


def test_csv_change_is_a_new_inode(deidfs, archive_copy, tmp_path):
    """The kernel caches pages by inode: a CSV rebuilt under the same
    inode would hand a reader still copying the old version pages of the
    new one.  A changed cleaned CSV (and reasons.csv) gets a new inode,
    the new content under it; a reader of the old version reads the old
    version to its end; unchanged content keeps its inode, also across a
    remount with the same db."""
    db = str(tmp_path / "c.db")
    src, csv = str(archive_copy.identified), str(archive_copy.csv)
    raw = read(csv)
    with open(csv, "wb") as f:
        f.write(_csv_filled(raw, b"x"))
    with Mount(deidfs, src, tmp_path / "mnt", db, csv=csv) as m:
        cpath = os.path.join(m.mnt, "cleaned_variables.csv")
        rpath = os.path.join(m.mnt, QUAR, "reasons.csv")
        old = read(cpath)
        assert len(old) > 4 * 4096
        c_ino, r_ino = os.stat(cpath).st_ino, os.stat(rpath).st_ino
        old_reasons = read(rpath)
        fd = os.open(cpath, os.O_RDONLY)
        try:
            head = os.pread(fd, 4096, 0)
            # a new version, the same size, other bytes on every page
            with open(csv, "wb") as f:
                f.write(_csv_filled(raw, b"y"))
            new = read(cpath)       # rebuilds the view
            assert len(new) == len(old) and new != old
            c_ino2 = os.stat(cpath).st_ino
            assert c_ino2 != c_ino
            assert _text_slot(cpath) % 2 == 1
            # reasons.csv did not change: same inode
            assert os.stat(rpath).st_ino == r_ino
            assert read(rpath) == old_reasons
            # the old reader: the old version, never a page of the new
            rest = b""
            while True:
                b = os.pread(fd, 65536, len(head) + len(rest))
                if not b:
                    break
                rest += b
            assert head + rest == old
        finally:
            os.close(fd)
        exp = str(tmp_path / "exp")
        export(deidfs, src, exp, db, csv)
        assert new == read(os.path.join(exp, "cleaned_variables.csv"))
        # a new file the source cannot publish changes reasons.csv: a new
        # inode for it too (with the CSV changed again, so the mount
        # rebuilds)
        with open(os.path.join(src, "notes.txt"), "wb") as f:
            f.write(b"not DICOM\n")
        with open(csv, "wb") as f:
            f.write(_csv_filled(raw, b"z"))
        newest = read(cpath)
        assert newest != new
        c_ino3, r_ino3 = os.stat(cpath).st_ino, os.stat(rpath).st_ino
        assert c_ino3 not in (c_ino, c_ino2)
        assert r_ino3 != r_ino
        new_reasons = read(rpath)
        assert new_reasons.count(b"\n") == old_reasons.count(b"\n") + 1
        assert _text_slot(rpath) % 2 == 0
        assert m.stop() == 0
    # same inputs, same db: the same inodes
    with Mount(deidfs, src, tmp_path / "mnt", db, csv=csv) as m:
        assert os.stat(cpath).st_ino == c_ino3
        assert os.stat(rpath).st_ino == r_ino3
        assert read(cpath) == newest and read(rpath) == new_reasons
        assert m.stop() == 0


def test_modified_while_open_never_mixed(deidfs, archive_copy, tmp_path):
    db = str(tmp_path / "c.db")
    src, csv = str(archive_copy.identified), str(archive_copy.csv)
    with Mount(deidfs, src, tmp_path / "mnt", db, csv=csv) as m:
        s, vp = _published(db)[0]
        spath = os.fsdecode(os.path.join(os.fsencode(src), s))
        p = os.path.join(m.mnt, vp)
        old = read(p)
        fd = os.open(p, os.O_RDONLY)
        try:
            assert os.pread(fd, 64, 0) == old[:64]
            _change_pixels(spath)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            try:
                got = b""
                while True:
                    b = os.pread(fd, 4096, len(got))
                    if not b:
                        break
                    got += b
            except OSError as e:
                assert e.errno == errno.EIO
                outcome = "EIO"
            else:
                outcome = "consistent"
                exp = str(tmp_path / "exp")
                export(deidfs, src, exp, db, csv)
                assert got in (old, read(os.path.join(exp, vp)))
        finally:
            os.close(fd)
        print("modified while open:", outcome)
        # a new open serves the new version, whole
        exp = str(tmp_path / "exp2")
        export(deidfs, src, exp, db, csv)
        assert read(p) == read(os.path.join(exp, vp))
        assert m.stop() == 0
