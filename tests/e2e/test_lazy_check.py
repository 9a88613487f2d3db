"""The page-by-page check of the db (sqlite's integrity_check) and a mount
of an unchanged index (issue 17).

integrity_check reads every page of the db: for ten million files, more
than the minute a remount may take.  A mount with --no-refresh of an
unchanged index writes nothing, so it runs the check only before its first
write (store_open_lazy()): an index out of step with its table is still
never written to (issue 11), and the db file stays byte for byte as it was.
Every other command checks at open (test_faults.py).
"""
import os
import sqlite3
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from conftest import Mount, _fuse_usable, _ismount, _unmount, run  # noqa
from test_mount import assert_same_tree  # noqa: E402

needs_fuse = pytest.mark.skipif(_fuse_usable() is not None,
                                reason=_fuse_usable() or "")


def export(deidfs, arch, dest, db):
    r = run(deidfs, "export", "-q", "--db", db, "--csv", arch.csv,
            arch.identified, dest)
    assert r.returncode == 0, r.stderr


def damage(db):
    """An index that no longer matches its table: sound pages, so only
    integrity_check sees it (as test_faults.py's "index-out-of-step")."""
    c = sqlite3.connect(str(db))
    c.executescript(
        "PRAGMA writable_schema = ON; "
        "UPDATE sqlite_master SET sql = 'CREATE INDEX audit_file ON "
        "audit(seq)' WHERE name = 'audit_file'; "
        "PRAGMA writable_schema = OFF;")
    c.close()
    for ext in ("-wal", "-shm"):
        if os.path.exists(str(db) + ext):
            os.unlink(str(db) + ext)


@needs_fuse
@pytest.mark.parametrize("kept", [True, False])
def test_unchanged_index_is_served_without_the_page_check(deidfs, archive,
                                                          tmp_path, kept):
    """The remount reads; the damaged index is never written to: whether
    it loads the view the export kept in the db, or (that view deleted)
    builds it from the rows and keeps none (fs/view_snap.c)."""
    db = tmp_path / "p.db"
    export(deidfs, archive, tmp_path / "a", db)
    if not kept:
        c = sqlite3.connect(str(db))
        c.execute("DELETE FROM view_snap")
        c.commit()
        c.close()
    damage(db)
    before = db.read_bytes()
    with Mount(deidfs, archive.identified, tmp_path / "mnt", db,
               csv=archive.csv, opts=["--no-refresh"]) as m:
        assert_same_tree(tmp_path / "a", m.mnt)
    assert db.read_bytes() == before


@needs_fuse
def test_no_refresh_mount_keeps_no_view(deidfs, archive, tmp_path):
    """A sound db without a kept view (deleted here; or made by another
    binary): the mount without refresh builds the view from the rows and
    writes nothing, not even the view to keep, which would cost the check
    of every page first (fs/view_snap.c)."""
    db = tmp_path / "p.db"
    export(deidfs, archive, tmp_path / "a", db)
    c = sqlite3.connect(str(db))
    c.execute("DELETE FROM view_snap")
    c.commit()
    c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    c.close()
    before = db.read_bytes()
    with Mount(deidfs, archive.identified, tmp_path / "mnt", db,
               csv=archive.csv, opts=["--no-refresh"]) as m:
        assert_same_tree(tmp_path / "a", m.mnt)
    assert db.read_bytes() == before
    c = sqlite3.connect(str(db))
    assert c.execute("SELECT count(*) FROM view_snap").fetchone()[0] == 0
    c.close()


@needs_fuse
def test_first_write_is_refused_on_a_damaged_db(deidfs, archive, tmp_path):
    """Another layout renames every file: the check runs before that
    write, fails, and the mount fails with the db as it was."""
    db = tmp_path / "p.db"
    export(deidfs, archive, tmp_path / "a", db)
    damage(db)
    before = db.read_bytes()
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    try:
        r = run(deidfs, "mount", "-f", "--no-refresh", "--db", db, "--csv",
                archive.csv, "--layout",
                "{patient}/{study_month}/{instance_number:4}.dcm",
                archive.identified, mnt, timeout=60)
    finally:
        _unmount(str(mnt))      # had it mounted, the test failed
    assert r.returncode == 1, r.stderr
    assert "cannot build the view" in r.stderr, r.stderr
    assert not _ismount(str(mnt))
    assert db.read_bytes() == before


def test_sound_db_is_written_after_the_check(deidfs, archive, tmp_path):
    """The same change on a sound db: the check passes, the names are
    recorded."""
    db = tmp_path / "p.db"
    export(deidfs, archive, tmp_path / "a", db)
    layout = "{patient}/{study_month}/{instance_number:4}.dcm"
    mnt = tmp_path / "mnt"
    with Mount(deidfs, archive.identified, mnt, db, csv=archive.csv,
               opts=["--no-refresh", "--layout", layout]):
        pass
    c = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    paths = [p for (p,) in c.execute(
        "SELECT view_path FROM files WHERE view_path IS NOT NULL "
        "AND view_path NOT LIKE '.quarantine/%'")]
    c.close()
    assert paths and all(p.count("/") == 2 for p in paths), paths[:3]
