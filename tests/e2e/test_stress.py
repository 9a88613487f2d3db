"""
test_stress.py - the mount under load while the source tree changes.

A source tree of a couple of thousand small DICOM files (one real sample
file, tests/data/MR_small.dcm, made a mammogram and given a few hundred
distinct patients and fresh UIDs with pydicom) is exported once (the
oracle: same db, same options) and mounted.  For a bounded time, 16 reader
threads open random files of the view and read them at random offsets and
sizes, sometimes dropping the kernel's page cache first so that the reads
reach the daemon, while a mutator thread changes the source underneath:
rewrites files in place (header value and pixel bytes, same size, one
write), replaces files by rename (another size), deletes files and adds new
ones.

What is asserted:
  - files whose source is never touched always read right: every byte of
    every read equals the export, and no read or open fails;
  - reads of changed files either fail with EIO, ENOENT or ESTALE, or
    return bytes of one whole version: the old export or the export made
    after the run (each open is checked as a whole: all reads through one
    descriptor agree with the same version, so a mix of an old header and
    new pixels, or of two versions' pages, fails the test);
  - the daemon is alive at the end, unmounts cleanly (exit status 0), says
    nothing identifying on stderr, and the db passes PRAGMA integrity_check.

DEIDFS_STRESS_SECONDS sets the read phase (default 15 s; the mutations
happen in its first two thirds).  Skipped without /dev/fuse or fusermount3.
"""

import errno
import io
import os
import random
import sqlite3
import subprocess
import sys
import threading
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from conftest import run  # noqa: E402
from conftest import _fuse_usable, _ismount, _unmount  # noqa
from phi import find_phi  # noqa: E402

pydicom = pytest.importorskip("pydicom")

READERS = 16
SECONDS = float(os.environ.get("DEIDFS_STRESS_SECONDS", "15"))
PATIENTS = 300
FILES = 2000
CHANGED = FILES // 10       # changed in place, replaced or deleted
ADDED = FILES // 40
MOUNT_TIMEOUT = 180
# errors a reader of a changed file may see; anything else fails the test
ALLOWED = {errno.EIO, errno.ENOENT, errno.ESTALE}
SEED = 20240604


_why = _fuse_usable()
pytestmark = pytest.mark.skipif(_why is not None, reason=_why or "")


class Tree:
    """A generated source tree: one template dataset, many patients."""

    def __init__(self, tests_data, root):
        self.root = str(root)
        self.tmpl = pydicom.dcmread(str(tests_data / "MR_small.dcm"))
        self.tmpl.Modality = "MG"   # allowed by the default modality list
        # Pixel Data last (the view drops what follows it), so that a
        # change to the last bytes of a file is a change to its pixels
        if 0xFFFCFFFC in self.tmpl:
            del self.tmpl[0xFFFCFFFC]
        self.rng = random.Random(SEED)
        self.uid_n = 0
        self.phi = []               # planted identifying strings
        self.patients = []          # (pid, name, study uid, series uid)
        self.next_inst = {}         # series uid -> next instance number

    def uid(self):
        self.uid_n += 1
        return "1.2.826.0.1.3680043.10.511.4.%d.%d" % (SEED, self.uid_n)

    def dataset(self, pat, inst, wc):
        pid, name, study, series = pat
        ds = self.tmpl.copy()
        ds.PatientID = pid
        ds.PatientName = name
        ds.StudyInstanceUID = study
        ds.SeriesInstanceUID = series
        ds.SOPInstanceUID = self.uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.InstanceNumber = inst
        ds.SeriesNumber = 1
        ds.WindowCenter = wc            # kept by the profile: a header
        return ds                       # change that keeps all names

    @staticmethod
    def encode(ds):
        b = io.BytesIO()
        ds.save_as(b, write_like_original=True)
        return b.getvalue()

    def new_patient(self, i):
        pid = "STRS%07d" % (1000003 * (i + 1) % 10000000)
        name = "Stressdottir^Kari%04d" % i
        self.phi += [pid, name]
        pat = (pid, name, self.uid(), self.uid())
        self.patients.append(pat)
        self.next_inst[pat[3]] = 1
        return pat

    def content(self, pat, wc="600"):
        inst = self.next_inst[pat[3]]
        self.next_inst[pat[3]] = inst + 1
        return self.encode(self.dataset(pat, inst, wc))

    def build(self):
        for i in range(PATIENTS):
            self.new_patient(i)
        paths = []
        for k in range(FILES):
            pat = self.patients[k % PATIENTS]
            rel = os.path.join("d%02d" % (k % 37), "s%03d" % (k % 101),
                               "img%05d.dcm" % k)
            self.write(rel, self.content(pat))
            paths.append(rel)
        return paths

    def write(self, rel, data):
        p = os.path.join(self.root, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(data)


def _xor_tail(data, n=64):
    return data[:-n] + bytes(b ^ 0xA5 for b in data[-n:])


def _rewritten(data):
    """Same size, another header value, other pixel bytes (in place)."""
    ds = pydicom.dcmread(io.BytesIO(data))
    ds.WindowCenter = "1234"            # "600 " -> "1234": same length
    out = _xor_tail(Tree.encode(ds))
    assert len(out) == len(data) and out[:-64] != data[:-64]
    assert _pixels(out) != _pixels(data)
    return out


def _pixels(data):
    return pydicom.dcmread(io.BytesIO(data)).PixelData


def _replacement(data):
    """Another size, header and pixel bytes (replaced by rename)."""
    ds = pydicom.dcmread(io.BytesIO(data))
    ds.WindowCenter = "77"
    ds.WindowWidth = "1600.123456"
    out = _xor_tail(Tree.encode(ds))
    assert len(out) != len(data) and _pixels(out) != _pixels(data)
    return out


def export(deidfs, src, dest, db):
    r = run(deidfs, "export", "-q", "--db", db, src, dest, timeout=900)
    assert r.returncode == 0, r.stderr
    return r


def view_of(db, root):
    """{source rel path: view path} of the published files."""
    c = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    try:
        rows = c.execute("SELECT path, view_path FROM files "
                         "WHERE view_path IS NOT NULL").fetchall()
    finally:
        c.close()
    out = {}
    for p, vp in rows:
        p = os.fsdecode(bytes(p)) if not isinstance(p, str) else p
        if vp.endswith(".dcm") and not vp.startswith(".quarantine"):
            out[p] = vp
    return out


def read_tree(root, vps):
    out = {}
    for vp in vps:
        with open(os.path.join(root, vp), "rb") as f:
            out[vp] = f.read()
    return out


# ---------------------------------------------------------- the run

class Stress:
    def __init__(self, mnt, old, mutable, deadline):
        self.mnt = mnt
        self.old = old                  # view path -> bytes before
        self.mutable = set(mutable)     # view paths that may change
        self.stable = sorted(set(old) - self.mutable)
        self.paths = sorted(old)
        self.deadline = deadline
        self.lock = threading.Lock()
        self.failures = []              # unchanged files: must be empty
        self.changed_opens = []         # (vp, [(off, bytes)]) to check later
        self.errors = {}                # errno name -> count (changed files)
        self.reads = 0
        self.opens = 0
        self.straddles = {}             # outcome -> count

    def fail(self, msg):
        with self.lock:
            if len(self.failures) < 50:
                self.failures.append(msg)

    def reader(self, seed):
        rng = random.Random(seed)
        reads = opens = 0
        while time.monotonic() < self.deadline:
            vp = rng.choice(self.paths)
            p = os.path.join(self.mnt, vp)
            changed = vp in self.mutable
            got = []
            try:
                fd = os.open(p, os.O_RDONLY)
            except OSError as e:
                self.outcome(vp, changed, e, "open")
                continue
            opens += 1
            try:
                if rng.random() < 0.5:
                    # reach the daemon, not the kernel's page cache
                    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                size = len(self.old[vp])
                for _ in range(rng.randint(1, 4)):
                    r = rng.random()
                    if r < 0.2:
                        off, n = 0, size + 4096          # whole file
                    elif r < 0.5:
                        off = rng.randrange(0, size)     # to the end
                        n = size - off + rng.randrange(0, 100)
                    else:
                        off = rng.randrange(0, size + 16)
                        n = rng.randint(1, 12000)
                    b = os.pread(fd, n, off)
                    reads += 1
                    got.append((off, n, b))
                    if not changed:
                        want = self.old[vp][off:off + n]
                        if b != want:
                            self.fail("%s: read(%d, %d) of an unchanged "
                                      "file: %d bytes, not the export's %d"
                                      % (vp, off, n, len(b), len(want)))
            except OSError as e:
                self.outcome(vp, changed, e, "read")
            finally:
                os.close(fd)
            if changed and got:
                with self.lock:
                    self.changed_opens.append((vp, got))
        with self.lock:
            self.reads += reads
            self.opens += opens

    def outcome(self, vp, changed, e, what):
        if not changed:
            self.fail("%s: %s of an unchanged file failed: %s"
                      % (vp, what, errno.errorcode.get(e.errno, e.errno)))
            return
        name = errno.errorcode.get(e.errno, str(e.errno))
        with self.lock:
            self.errors[name] = self.errors.get(name, 0) + 1
        if e.errno not in ALLOWED:
            self.fail("%s: %s of a changed file failed with %s"
                      % (vp, what, name))


def straddle(s, vp, change):
    """Open vp in the view and read its first KiB, change its source, then
    read the rest through the same descriptor (past the page cache): the
    reads must still be one version, or fail with an allowed error."""
    p = os.path.join(s.mnt, vp)
    got = []
    done = False
    try:
        fd = os.open(p, os.O_RDONLY)
    except OSError as e:
        change()
        s.outcome(vp, True, e, "open")
        return
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        got.append((0, 1024, os.pread(fd, 1024, 0)))
        change()
        done = True
        off = 1024
        while True:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            b = os.pread(fd, 4096, off)
            got.append((off, 4096, b))
            if not b:
                break
            off += len(b)
        outcome = "read"
    except OSError as e:
        s.outcome(vp, True, e, "read")
        outcome = errno.errorcode.get(e.errno, str(e.errno))
    finally:
        os.close(fd)
        if not done:
            change()
    with s.lock:
        s.changed_opens.append((vp, got))
        s.straddles[outcome] = s.straddles.get(outcome, 0) + 1


def mutate(s, tree, src_of, staging, stop_at, log):
    """Change the source underneath: every chosen file changes once.  The
    in-place and rename changes happen while the mutator holds the file
    open in the view (straddle())."""
    items = list(src_of.items())        # (view path, source rel path)
    rng = random.Random(SEED + 1)
    rng.shuffle(items)
    q = len(items) // 3
    plan = ([("inplace", x) for x in items[:q]] +
            [("rename", x) for x in items[q:2 * q]] +
            [("delete", x) for x in items[2 * q:]] +
            [("add", None)] * ADDED)
    rng.shuffle(plan)
    t0 = time.monotonic()
    span = stop_at - t0
    n = 0
    for i, (kind, x) in enumerate(plan):
        # spread over the window
        wait = t0 + span * i / len(plan) - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        if kind == "add":
            pat = (tree.new_patient(10000 + i) if rng.random() < 0.5
                   else rng.choice(tree.patients[:PATIENTS]))
            data = tree.content(pat)
            st = os.path.join(staging, "new%05d" % i)
            with open(st, "wb") as f:
                f.write(data)
            dst = os.path.join(tree.root, "added", "a%05d.dcm" % i)
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            os.rename(st, dst)
        else:
            vp, rel = x
            p = os.path.join(tree.root, rel)
            with open(p, "rb") as f:
                data = f.read()
            if kind == "inplace":
                new = _rewritten(data)

                def change(p=p, new=new):
                    fd = os.open(p, os.O_WRONLY)
                    try:
                        assert os.pwrite(fd, new, 0) == len(new)
                    finally:
                        os.close(fd)
                straddle(s, vp, change)
            elif kind == "rename":
                new = _replacement(data)
                st = os.path.join(staging, "rep%05d" % i)
                with open(st, "wb") as f:
                    f.write(new)
                straddle(s, vp, lambda st=st, p=p: os.rename(st, p))
            else:
                os.unlink(p)
        log.append((kind, x))
        n += 1
    return n


def _version_ok(off, n, b, ver):
    if ver is None:
        return False
    want = ver[off:off + n]
    return b == want or (len(b) < len(want) and want.startswith(b))


def test_readers_while_source_changes(deidfs, tests_data, tmp_path):
    t_start = time.monotonic()
    src = str(tmp_path / "src")
    staging = str(tmp_path / "staging")     # same file system as src
    os.makedirs(src)
    os.makedirs(staging)
    tree = Tree(tests_data, src)
    rels = tree.build()
    t_gen = time.monotonic() - t_start

    db = str(tmp_path / "stress.db")
    exp_old = str(tmp_path / "export-before")
    export(deidfs, src, exp_old, db)
    vmap = view_of(db, src)
    assert len(vmap) == FILES, "every generated file is published"
    old = read_tree(exp_old, vmap.values())
    assert len(set(vmap.values())) == FILES

    rng = random.Random(SEED + 2)
    chosen = rng.sample(rels, CHANGED)
    src_of = {vmap[r]: r for r in chosen}

    mnt = str(tmp_path / "mnt")
    os.makedirs(mnt)
    log_path = str(tmp_path / "mount.stderr")
    logf = open(log_path, "wb")
    proc = subprocess.Popen([deidfs, "mount", "-f", "--db", db, src, mnt],
                            stdout=logf, stderr=logf)
    log = []
    try:
        deadline = time.monotonic() + MOUNT_TIMEOUT
        while not _ismount(mnt):
            assert proc.poll() is None, "mount exited with %d" % proc.returncode
            assert time.monotonic() < deadline, "mount not ready"
            time.sleep(0.05)
        os.listdir(mnt)
        t0 = time.monotonic()
        s = Stress(mnt, old, src_of.keys(), t0 + SECONDS)
        res = {}
        mut = threading.Thread(
            target=lambda: res.setdefault(
                "n", mutate(s, tree, src_of, staging,
                            t0 + SECONDS * 2 / 3, log)))
        readers = [threading.Thread(target=s.reader, args=(SEED + 10 + i,))
                   for i in range(READERS)]
        for t in readers + [mut]:
            t.start()
        for t in readers + [mut]:
            t.join(SECONDS + 600)
        assert not any(t.is_alive() for t in readers + [mut]), \
            "a reader or the mutator hangs"
        assert res.get("n") == len(log) == len(src_of) + ADDED, \
            "the mutator did not finish: %d changes" % len(log)

        # the daemon is alive and serves the new tree
        assert proc.poll() is None, "the daemon died"
        os.listdir(mnt)
        for vp in s.stable[:20]:
            with open(os.path.join(mnt, vp), "rb") as f:
                assert f.read() == old[vp], vp
    finally:
        _unmount(mnt)
        try:
            rc = proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = proc.wait()
        logf.close()
    t_load = time.monotonic() - t0
    with open(log_path, "rb") as f:
        stderr = f.read().decode("utf-8", "surrogateescape")
    assert rc == 0, "mount exited with %d:\n%s" % (rc, stderr[-4000:])
    assert not _ismount(mnt)

    assert not s.failures, "\n".join(s.failures)

    # the new versions, from the same db after the run
    exp_new = str(tmp_path / "export-after")
    export(deidfs, src, exp_new, db)
    vmap2 = view_of(db, src)
    for vp, rel in src_of.items():
        if os.path.exists(os.path.join(src, rel)):
            assert vmap2.get(rel) == vp, "a change moved %s" % vp
    new = {}
    for vp in src_of:
        p = os.path.join(exp_new, vp)
        new[vp] = (read_tree(exp_new, [vp])[vp] if os.path.exists(p)
                   else None)
    kinds = {x[0]: k for k, x in log if x}
    for vp in src_of:
        if kinds[vp] == "delete":
            assert new[vp] is None, vp
        else:
            assert new[vp] is not None and new[vp] != old[vp], vp
    # unchanged files are unchanged in the new export too
    for vp in s.stable[::50]:
        assert read_tree(exp_new, [vp])[vp] == old[vp], vp

    mixed = []
    outcomes = {"old": 0, "new": 0}
    for vp, got in s.changed_opens:
        for name, ver in (("old", old[vp]), ("new", new[vp])):
            if all(_version_ok(off, n, b, ver) for off, n, b in got):
                outcomes[name] += 1
                break
        else:
            mixed.append("%s (%s): reads %s match neither version"
                         % (vp, kinds[vp], [(o, n, len(b)) for o, n, b in
                                             got]))
    assert not mixed, "\n".join(mixed[:20])

    # added files are in the view
    added = [r for r in vmap2 if r.startswith("added" + os.sep)]
    assert len(added) == ADDED

    hits = find_phi(None, tree.phi, extra_texts=[("daemon stderr", stderr)])
    assert not hits, hits
    c = sqlite3.connect(db)
    try:
        assert c.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    finally:
        c.close()

    # enough happened for the test to mean something
    assert s.reads > 1000 and s.opens > 500, (s.reads, s.opens)
    assert s.changed_opens, "no read of a changed file"
    assert sum(s.straddles.values()) == 2 * (CHANGED // 3), s.straddles
    print("stress: %d files, generated in %.1fs; %.1fs under load: %d opens, "
          "%d reads, %d changes; changed files: %s, errors %s; opens "
          "across a change: %s"
          % (FILES, t_gen, t_load, s.opens, s.reads, len(log), outcomes,
             s.errors, s.straddles))
