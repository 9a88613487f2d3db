"""
test_golden.py - what deidfs publishes, pinned: a committed digest of the
exported and the mounted view of three inputs (the test archive, the demo
archive and every file in tests/data) under a fixed, public test key.

A redesign that must not change behaviour (issue 12) changes no byte, name,
size or inode here.  When the output changes on purpose (a rule, the
writer, the naming), regenerate the digest and say why in the commit:

    DEIDFS_GOLDEN_UPDATE=1 DEIDFS=$PWD/build/deidfs \\
        /usr/bin/python3 -m pytest -q tests/e2e/test_golden.py

mtimes are the time a file was indexed, so they are not pinned; the test
checks that the mount and the export give each file the same one.  One
worker (-j1) indexes, so row ids, and with them inode numbers, do not depend
on which thread finished first.
"""

import hashlib
import hmac
import json
import os
import shutil
import sqlite3
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from conftest import make_archive, run  # noqa: E402

GOLDEN = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                      "golden.json")
# Public on purpose: the digest is of output under this key only.
KEY = b"deidfs golden test key: public!!"
assert len(KEY) == 32


def fixed_key_db(deidfs, path, tmp):
    """A new db whose secret key is KEY (store.c: key and its check value,
    HMAC-SHA256(key, "deidfs-key-check" 0x00))."""
    empty = os.path.join(tmp, "empty-src")
    os.makedirs(empty, exist_ok=True)
    r = run(deidfs, "export", "-q", "--db", path, empty,
            os.path.join(tmp, "empty-out"))
    assert r.returncode == 0, r.stderr
    check = hmac.new(KEY, b"deidfs-key-check\0", hashlib.sha256).digest()
    c = sqlite3.connect(path)
    with c:
        assert c.execute("SELECT count(*) FROM meta WHERE k = 'key'"
                         ).fetchone()[0] == 1
        c.execute("UPDATE meta SET v = ? WHERE k = 'key'", (KEY,))
        c.execute("UPDATE meta SET v = ? WHERE k = 'key_check'", (check,))
    c.close()


def tree(root):
    """{relative path: (size, sha256 hex, mtime ns, inode)} of every file,
    folders as (None, None, mtime ns, inode)."""
    out = {}
    for dp, dns, fns in os.walk(root):
        for n in dns + fns:
            p = os.path.join(dp, n)
            st = os.lstat(p)
            rel = os.path.relpath(p, root)
            if n in fns:
                with open(p, "rb") as f:
                    h = hashlib.sha256(f.read()).hexdigest()
                out[rel] = (st.st_size, h, st.st_mtime_ns, st.st_ino)
            else:
                out[rel] = (None, None, st.st_mtime_ns, st.st_ino)
    return out


def view_of(deidfs, name, src, tmp, args):
    """Export and mount src with a fixed-key db: {path: [size, sha256,
    inode]} (inodes as the mount shows them)."""
    from conftest import Mount
    db = os.path.join(tmp, name + ".db")
    fixed_key_db(deidfs, db, tmp)
    dest = os.path.join(tmp, name + ".out")
    r = run(deidfs, "export", "-q", "-j1", "--with-quarantine", "--db", db,
            *args, src, dest)
    assert r.returncode in (0, 3), r.stderr
    exported = tree(dest)
    mnt = os.path.join(tmp, name + ".mnt")
    m = Mount(deidfs, src, mnt, db, opts=["-j1"] + list(args)).start()
    try:
        mounted = tree(mnt)
        # the mount hides .quarantine from listings but serves it by name
        shown = {p for p in exported if not p.startswith(".quarantine")}
        assert set(mounted) == shown
        for p in exported:
            if p.startswith(".quarantine") and exported[p][0] is not None:
                q = os.path.join(mnt, p)
                st = os.lstat(q)
                with open(q, "rb") as f:
                    h = hashlib.sha256(f.read()).hexdigest()
                mounted[p] = (st.st_size, h, st.st_mtime_ns, st.st_ino)
    finally:
        assert m.stop() == 0
    for p, (size, h, mtime, _) in exported.items():
        if size is not None:
            assert mounted[p][:3] == (size, h, mtime), p
    return {p: [size, h, mounted[p][3]]
            for p, (size, h, _, _) in exported.items() if size is not None}


@pytest.mark.skipif(not os.path.exists("/dev/fuse") or
                    shutil.which("fusermount3") is None,
                    reason="needs /dev/fuse and fusermount3")
def test_output_is_the_committed_digest(deidfs, tests_data, tmp_path):
    tmp = str(tmp_path)
    inputs = {}
    test_arch = make_archive(tmp_path / "test-archive")
    inputs["test-archive"] = (str(test_arch.root / "identified"),
                              ["--csv", str(test_arch.root /
                                            "variables.csv")])
    demo = make_archive(tmp_path / "demo-archive", seed=1)
    inputs["demo-archive"] = (str(demo.root / "identified"),
                              ["--csv", str(demo.root / "variables.csv")])
    data = tmp_path / "tests-data"
    shutil.copytree(str(tests_data), str(data))
    inputs["tests-data"] = (str(data), ["--modalities", "all"])
    got = {name: view_of(deidfs, name, src, tmp, args)
           for name, (src, args) in sorted(inputs.items())}
    if os.environ.get("DEIDFS_GOLDEN_UPDATE"):
        with open(GOLDEN, "w") as f:
            json.dump(got, f, indent=1, sort_keys=True)
            f.write("\n")
        pytest.skip("golden.json regenerated")
    with open(GOLDEN) as f:
        want = json.load(f)
    for name in sorted(want):
        assert sorted(got[name]) == sorted(want[name]), name
        for p in sorted(want[name]):
            assert got[name][p] == want[name][p], (name, p)
    assert sorted(got) == sorted(want)


@pytest.mark.skipif(not os.path.exists("/dev/fuse") or
                    shutil.which("fusermount3") is None,
                    reason="needs /dev/fuse and fusermount3")
def test_both_front_ends_read_through_view_map_read(repo, tmp_path):
    """A build whose view_map_read() turns every source span into bytes
    'S' (make spantest): the export and the mount both change, to the same
    bytes, with the pixel data all 'S'.  So every byte of both comes
    through that one function, not through a path of a front end's own."""
    import pydicom
    from conftest import Mount
    r = run("make", "-s", "-C", str(repo), "spantest", timeout=900)
    assert r.returncode == 0, r.stderr
    deidfs = str(repo / "build" / "spantest" / "deidfs")
    arch = make_archive(tmp_path / "arch")
    src = str(arch.root / "identified")
    db = str(tmp_path / "p.db")
    dest = str(tmp_path / "out")
    r = run(deidfs, "export", "-q", "--db", db, src, dest)
    assert r.returncode == 0, r.stderr
    exported = tree(dest)
    mnt = str(tmp_path / "mnt")
    m = Mount(deidfs, src, mnt, db).start()
    try:
        mounted = tree(mnt)
    finally:
        assert m.stop() == 0
    files = [p for p in exported if p.endswith(".dcm")]
    assert len(files) > 10
    for p in files:
        assert mounted[p][:2] == exported[p][:2], p
        px = pydicom.dcmread(os.path.join(dest, p)).PixelData
        assert px and px == b"S" * len(px), p
