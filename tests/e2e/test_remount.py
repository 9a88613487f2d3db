"""A remount of an unchanged index takes its names from the db (issue 17).

Each build records the view path of every file in its row, and in the
setting "view.names" a digest of what they were computed from (the rows,
the configuration, the CSV); a build that finds the same digest takes the
rows' paths instead of naming again (fs/view_reuse.c).  These tests check
that what is served is the same either way, and that any change to the
rows makes the names computed again.
"""
import os
import sqlite3
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from conftest import Mount, _fuse_usable, run  # noqa: E402
from test_mount import assert_same_tree  # noqa: E402

needs_fuse = pytest.mark.skipif(_fuse_usable() is not None,
                                reason=_fuse_usable() or "")


def export(deidfs, arch, dest, db, *extra):
    r = run(deidfs, "export", "-q", "--db", db, "--csv", arch.csv, *extra,
            arch.identified, dest)
    assert r.returncode == 0, r.stderr


def setting(db, k):
    c = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    try:
        row = c.execute("SELECT v FROM settings WHERE k = ?", (k,)).fetchone()
    finally:
        c.close()
    return row[0] if row else None


def view_paths(db):
    c = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    try:
        return dict(c.execute("SELECT id, view_path FROM files"))
    finally:
        c.close()


def test_build_records_what_its_names_come_from(deidfs, archive, tmp_path):
    db = tmp_path / "p.db"
    export(deidfs, archive, tmp_path / "a", db)
    v = setting(db, "view.names")
    assert v and v.split()[0] == "1" and len(v.split()) == 4, v
    # another layout: other names, another digest
    export(deidfs, archive, tmp_path / "b", db, "--layout",
           "{patient}/{study_month}/{instance_number:4}.dcm")
    assert setting(db, "view.names") != v


@needs_fuse
def test_remounts_serve_the_export(deidfs, archive, tmp_path):
    """Export, then two remounts (the second takes the names the first
    left): the same tree, bytes and mtimes as the export."""
    db = tmp_path / "p.db"
    export(deidfs, archive, tmp_path / "a", db)
    for i in range(2):
        with Mount(deidfs, archive.identified, tmp_path / "mnt", db,
                   csv=archive.csv, opts=["--no-refresh"]) as m:
            assert_same_tree(tmp_path / "a", m.mnt)


@needs_fuse
def test_rows_edited_by_hand_are_named_again(deidfs, archive, tmp_path):
    """Two files' view paths swapped in the db: the digest differs, the
    names are computed again (and put back in the rows)."""
    db = tmp_path / "p.db"
    export(deidfs, archive, tmp_path / "a", db)
    before = view_paths(db)
    ids = sorted(i for i, p in before.items()
                 if p and not p.startswith(".quarantine/"))[:2]
    c = sqlite3.connect(str(db))
    c.execute("UPDATE files SET view_path = ? WHERE id = ?",
              (before[ids[1]], ids[0]))
    c.execute("UPDATE files SET view_path = ? WHERE id = ?",
              (before[ids[0]], ids[1]))
    c.commit()
    c.close()
    with Mount(deidfs, archive.identified, tmp_path / "mnt", db,
               csv=archive.csv, opts=["--no-refresh"]) as m:
        assert_same_tree(tmp_path / "a", m.mnt)
    assert view_paths(db) == before


# ------------------------------------------------- the view's snapshot

def forget_names(db):
    """Delete the names' digest behind deidfs's back (settings have no
    trigger): a build from the rows writes it again, a loaded snapshot of
    the view (fs/view_snap.c) writes nothing.  It tells which ran."""
    c = sqlite3.connect(str(db))
    c.execute("DELETE FROM settings WHERE k = 'view.names'")
    c.commit()
    c.close()


def counters(report):
    """The report's counters, without what differs from run to run (the
    command, the times, what the refresh found changed)."""
    import json
    rep = json.loads(report.read_text())
    for k in ("command", "started", "ended", "elapsed_s", "throughput_mb_s",
              "files_per_s", "files_analysed", "files_unchanged"):
        rep.pop(k, None)
    return rep


def row_warnings(stderr):
    return [ln for ln in stderr.splitlines()
            if ln.startswith("deidfs: registry row ")]


def test_unchanged_index_loads_the_kept_view(deidfs, archive, tmp_path):
    """A second export with the db of the first, the source unchanged,
    loads the view the first kept instead of building it: the same tree
    and bytes, the same counters in the report and the same registry row
    warnings.  A row changed by hand (sqlite3) makes the next one build
    from the rows, and it gives what a new db gives."""
    db = tmp_path / "p.db"
    outs, reps, warns = [], [], []
    for i in range(2):
        out, rep = tmp_path / ("o%d" % i), tmp_path / ("r%d.json" % i)
        r = run(deidfs, "export", "--db", db, "--csv", archive.csv,
                "--report", rep, archive.identified, out)
        assert r.returncode == 0, r.stderr
        outs.append(out)
        reps.append(counters(rep))
        warns.append(row_warnings(r.stderr))
        if i == 0:
            assert setting(db, "view.names")
            forget_names(db)
    assert setting(db, "view.names") is None    # loaded, not built
    assert_same_tree(outs[0], outs[1])
    assert reps[0] == reps[1]
    assert warns[0] and warns[0] == warns[1]

    # one published file's series number, by hand: built from the rows
    c = sqlite3.connect(str(db))
    fid, = c.execute("SELECT min(id) FROM files WHERE view_path NOT LIKE "
                     "'.quarantine/%' AND status = 0").fetchone()
    c.execute("UPDATE files SET series_number = 4321 WHERE id = ?", (fid,))
    c.commit()
    c.close()
    forget_names(db)
    export(deidfs, archive, tmp_path / "o2", db)
    assert setting(db, "view.names")            # built from the rows
    series = [d for _, dirs, _ in os.walk(str(tmp_path / "o2"))
              for d in dirs if d.startswith("4321_")]
    assert series, "the edited row is what is exported"


@needs_fuse
def test_remount_loads_the_kept_view(deidfs, archive, tmp_path):
    """A mount without refresh of an exported index serves the kept view
    (nothing built, nothing written), the same as the export."""
    db = tmp_path / "p.db"
    export(deidfs, archive, tmp_path / "a", db)
    forget_names(db)
    with Mount(deidfs, archive.identified, tmp_path / "mnt", db,
               csv=archive.csv, opts=["--no-refresh"]) as m:
        assert_same_tree(tmp_path / "a", m.mnt)
    assert setting(db, "view.names") is None
