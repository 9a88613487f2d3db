"""
test_shard.py - a sharded run by hand (issue 17; README "On a cluster"):
`export --shard I/N --index-only` for every task, `merge`, `export --shard
I/N` for every task, `merge` again, gives byte for byte the tree of one
machine's export with the same db: names, bytes, sizes, mtimes (files and
folders) and marks.
"""

import json
import os
import shutil
import sqlite3
import stat
from contextlib import closing

import pytest

from conftest import run

MARK = "user.deidfs.mark"


def tree(root):
    """{relative path: (kind, bytes, size, mtime_ns, mark)} of everything
    under root, the root folder included."""
    out = {}
    for dp, dn, fn in os.walk(root):
        for name in [""] + dn + fn if dp == str(root) else dn + fn:
            p = os.path.join(dp, name) if name else dp
            st = os.lstat(p)
            try:
                mark = os.getxattr(p, MARK)
            except OSError:
                mark = None
            data = None
            if stat.S_ISREG(st.st_mode):
                with open(p, "rb") as fh:
                    data = fh.read()
            out[os.path.relpath(p, root)] = (
                stat.S_IFMT(st.st_mode), data, st.st_size, st.st_mtime_ns,
                mark)
    return out


def beside(db):
    """The files a sharded run left beside the db."""
    d, base = os.path.split(str(db))
    return sorted(f for f in os.listdir(d) if f.startswith(base + "."))


def sharded(deidfs, archive, db, dest, n, opts=()):
    """The four phases, every task by hand, in a shuffled order."""
    common = ["--csv", archive.csv, "--db", db, *opts, archive.identified,
              dest]
    order = sorted(range(n), key=lambda i: (i * 5 + 3) % n)
    for i in order:
        run(deidfs, "export", "--shard", "%d/%d" % (i, n), "--index-only",
            *common, check=True)
        assert stat.S_IMODE(os.stat("%s.shard-%d-of-%d" % (db, i, n))
                            .st_mode) == 0o600
    run(deidfs, "merge", *common, check=True)
    assert beside(db) == []
    for i in order:
        run(deidfs, "export", "--shard", "%d/%d" % (i, n), *common,
            check=True)
        assert stat.S_IMODE(os.stat("%s.export-%d-of-%d" % (db, i, n))
                            .st_mode) == 0o600
    run(deidfs, "merge", *common, check=True)
    assert beside(db) == []


@pytest.fixture(scope="module")
def single(deidfs, archive, tmp_path_factory):
    """One machine's export with a new db, and that db."""
    d = tmp_path_factory.mktemp("single")
    run(deidfs, "export", "-q", "--with-quarantine", "--csv", archive.csv,
        "--db", d / "p.db", archive.identified, d / "out", check=True)
    return d / "p.db", tree(d / "out")


@pytest.mark.parametrize("n", [1, 3, 7])
def test_sharded_export_is_one_machines(deidfs, archive, single, tmp_path,
                                        n):
    """With a copy of the db of one machine's export, the shard tasks
    find every file unchanged in it (nothing is parsed again) and the
    result is that export, byte for byte, mtimes and marks included; the
    last merge records what each task wrote."""
    db = tmp_path / "p.db"
    shutil.copy(single[0], db)
    sharded(deidfs, archive, db, tmp_path / "out", n,
            ["--with-quarantine"])
    got = tree(tmp_path / "out")
    assert sorted(got) == sorted(single[1])
    for k in got:
        assert got[k] == single[1][k], k
    with sqlite3.connect(db) as c:
        rows = c.execute("SELECT nshards, count(*), count(DISTINCT shard),"
                         " count(DISTINCT ino) FROM export_log").fetchall()
    nfiles = sum(1 for v in got.values() if v[0] == stat.S_IFREG)
    # every file once; a share may hold no woman (6 women, 7 shares)
    assert rows[0][0] == n and rows[0][1] == rows[0][3] == nfiles
    assert 1 <= rows[0][2] <= n


@pytest.mark.parametrize("layout", [
    "{study_year}/{laterality}_{view}.dcm",
    "s{patient}/{study_year}/{laterality}_{view}.dcm"])
def test_sharded_export_other_layouts(deidfs, archive, tmp_path, layout):
    """An export task builds only its share of the view when a patient's
    names depend on her records alone (the layout starts with her), the
    whole view otherwise (here, where the suffixes that tell two women's
    files apart in one year depend on both): either way the tree is
    one machine's."""
    opts = ["--with-quarantine", "--layout", layout]
    db = tmp_path / "p.db"
    run(deidfs, "export", "-q", "--csv", archive.csv, "--db", db, *opts,
        archive.identified, tmp_path / "one", check=True)
    sharded(deidfs, archive, db, tmp_path / "out", 3, opts)
    assert tree(tmp_path / "out") == tree(tmp_path / "one")


def test_sharded_index_of_a_new_db(deidfs, archive, tmp_path):
    """With a new db, the index tasks parse their shares: a later export
    of one machine with the merged db parses nothing and writes the same
    tree as the sharded export."""
    db = tmp_path / "p.db"
    sharded(deidfs, archive, db, tmp_path / "out", 3)
    r = run(deidfs, "export", "--csv", archive.csv, "--db", db,
            "--report", tmp_path / "r.json", archive.identified,
            tmp_path / "one", check=True)
    rep = json.loads((tmp_path / "r.json").read_text())
    assert rep["files_analysed"] == 0 and rep["files_unchanged"] == \
        rep["files_seen"] > 0, r.stderr
    assert tree(tmp_path / "out") == tree(tmp_path / "one")


def test_merge_names_the_missing_task(deidfs, archive, tmp_path):
    """A task that did not finish (its file is not there) stops the merge,
    which names it; run again, the run completes the same tree."""
    db = tmp_path / "p.db"
    common = ["--csv", archive.csv, "--db", db, archive.identified,
              tmp_path / "out"]
    for i in (0, 2):
        run(deidfs, "export", "--shard", "%d/3" % i, "--index-only", *common,
            check=True)
    r = run(deidfs, "merge", *common)
    assert r.returncode == 1 and "task 1/3" in r.stderr, r.stderr
    run(deidfs, "export", "--shard", "1/3", "--index-only", *common,
        check=True)
    run(deidfs, "merge", *common, check=True)
    r = run(deidfs, "export", "--shard", "0/3", "--modalities", "all",
            *common)
    assert r.returncode == 2 and "merge" in r.stderr, r.stderr
    for i in (2, 0):
        run(deidfs, "export", "--shard", "%d/3" % i, *common, check=True)
    r = run(deidfs, "merge", *common)
    assert r.returncode == 1 and "task 1/3" in r.stderr, r.stderr
    run(deidfs, "export", "--shard", "1/3", *common, check=True)
    run(deidfs, "merge", *common, check=True)
    run(deidfs, "export", "-q", "--csv", archive.csv, "--db", db,
        archive.identified, tmp_path / "one", check=True)
    assert tree(tmp_path / "out") == tree(tmp_path / "one")


def test_shard_usage(deidfs, tmp_path):
    for bad in ("3/3", "1", "a/2", "0/0", "1/4097", "-1/2"):
        r = run(deidfs, "export", "--shard", bad, "--db", tmp_path / "p.db",
                tmp_path, tmp_path / "o")
        assert r.returncode == 2 and "--shard" in r.stderr, (bad, r.stderr)
    r = run(deidfs, "export", "--index-only", "--db", tmp_path / "p.db",
            tmp_path, tmp_path / "o")
    assert r.returncode == 2 and "--index-only" in r.stderr
    assert not (tmp_path / "p.db").exists()


def test_merge_removes_what_killed_tasks_left(deidfs, archive, tmp_path):
    """Temporary files of killed attempts beside the db (a shard db under
    its .new- name holds original values) are removed by a merge that
    succeeds; a file of the user's beside the db is not, nor are they by a
    merge that fails."""
    db = tmp_path / "p.db"
    common = ["--csv", archive.csv, "--db", db, archive.identified,
              tmp_path / "out"]
    run(deidfs, "export", "--shard", "0/2", "--index-only", *common,
        check=True)
    left = ["p.db.new-4242", "p.db.new-4242-wal", "p.db.new-17-journal",
            "p.db.shard-1-of-2.new-host-99", "p.db.shard-1-of-2.new-h-9-shm",
            "p.db.export-0-of-2.new-12"]
    mine = ["p.db.new-", "p.db.new-12x", "p.db.shard-1-of-2.old",
            "p.db.notes", "p.dbx.new-1"]
    for f in left + mine:
        (tmp_path / f).write_bytes(b"x")
    r = run(deidfs, "merge", *common)
    assert r.returncode == 1 and "task 1/2" in r.stderr
    assert set(left + mine) <= set(os.listdir(tmp_path))
    run(deidfs, "export", "--shard", "1/2", "--index-only", *common,
        check=True)
    run(deidfs, "merge", *common, check=True)
    assert beside(db) == sorted(f for f in mine if f.startswith("p.db."))
    assert (tmp_path / "p.dbx.new-1").exists()


def index_rows(db):
    """What an index holds that a sharded run must give as one machine
    does: the records with their row ids (the inode numbers) and versions,
    the audit trail by file, the pairs, the sequence the next new file's id
    comes from; not the times of the analyses."""
    with closing(sqlite3.connect(db)) as c:
        return (
            c.execute("SELECT id, path, status, out_size, header_len, "
                      "patient_id, pseudonym, sop_uid, version, q_rule "
                      "FROM files ORDER BY id").fetchall(),
            c.execute("SELECT f.path, a.seq, a.path, a.action, a.old, a.new "
                      "FROM audit a JOIN files f ON f.id = a.file_id "
                      "ORDER BY f.id, a.seq").fetchall(),
            c.execute("SELECT * FROM patients ORDER BY 1").fetchall(),
            c.execute("SELECT * FROM uids ORDER BY 1").fetchall(),
            c.execute("SELECT seq FROM sqlite_sequence WHERE name = 'files'"
                      ).fetchall(),
            c.execute("SELECT name FROM sqlite_master WHERE type = 'index' "
                      "ORDER BY 1").fetchall())


def one_key_dbs(deidfs, tmp_path):
    """Two new project dbs with one key (the same pseudonyms and UIDs):
    one machine's and the sharded run's."""
    one, sh = tmp_path / "one.db", tmp_path / "sh.db"
    (tmp_path / "empty").mkdir()
    run(deidfs, "export", "-q", "--db", one, tmp_path / "empty",
        tmp_path / "o0", check=True)
    shutil.copy(one, sh)
    return one, sh


def index_shards(deidfs, common, n):
    """The index tasks of a run of n shards, one after another."""
    for i in range(n):
        run(deidfs, "export", "--shard", "%d/%d" % (i, n), "--index-only",
            *common, check=True)


def break_shard_db(path):
    """A shard db without its audit table: the merge stops at it, after
    the shards before it (each in a transaction of its own)."""
    with closing(sqlite3.connect(str(path))) as c:
        c.execute("DROP TABLE audit")
        c.commit()


@pytest.mark.parametrize("n", [3, 12])
def test_merge_gives_one_machines_index(deidfs, archive, tmp_path, n):
    """The merge of the shard dbs (copied in bulk, store_merge.c) gives the
    index one machine's export gives, row ids included: with new dbs, and
    again after a source file changed, one was removed and one added (a
    changed file keeps its id and counts a version; every file put takes
    a number of the sequence, as one machine's put does), with 3 shards
    and with 12 (each in a transaction of its own)."""
    src = tmp_path / "src"
    shutil.copytree(archive.identified, src)
    one, sh = one_key_dbs(deidfs, tmp_path)

    def both():
        run(deidfs, "export", "-q", "--csv", archive.csv, "--db", one, src,
            tmp_path / "o1", check=True)
        common = ["-q", "--csv", archive.csv, "--db", sh, src,
                  tmp_path / "o2"]
        index_shards(deidfs, common, n)
        run(deidfs, "merge", *common, check=True)
        a, b = index_rows(one), index_rows(sh)
        assert len(a[0]) > 20
        for x, y in zip(a, b):
            assert x == y

    both()
    files = sorted(p for p in src.rglob("*") if p.is_file())
    changed = files[len(files) // 2]
    st = changed.stat()
    os.utime(changed, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    files[-1].unlink()
    shutil.copy(files[0], files[0].parent / "0-added.dcm")
    both()


def test_merge_refuses_a_foreign_or_damaged_shard_db(deidfs, archive,
                                                     tmp_path):
    """A shard db made with another project db's key, or not a db at all,
    stops the merge, which says what to do and writes nothing of the other
    shards into the project db."""
    db, other = tmp_path / "p.db", tmp_path / "other.db"
    common = ["-q", "--csv", archive.csv, "--db", db, archive.identified,
              tmp_path / "out"]
    for i in (0, 1):
        run(deidfs, "export", "--shard", "%d/2" % i, "--index-only",
            *common, check=True)
    run(deidfs, "export", "--shard", "1/2", "--index-only", "-q", "--csv",
        archive.csv, "--db", other, archive.identified, tmp_path / "o",
        check=True)
    shutil.copy("%s.shard-1-of-2" % other, "%s.shard-1-of-2" % db)
    r = run(deidfs, "merge", *common)
    assert r.returncode == 1 and "another project db's key" in r.stderr, \
        r.stderr
    with closing(sqlite3.connect(db)) as c:
        assert c.execute("SELECT count(*) FROM files").fetchone()[0] == 0
    with open("%s.shard-1-of-2" % db, "wb") as f:
        f.write(b"not a db" * 1000)
    r = run(deidfs, "merge", *common)
    assert r.returncode == 1 and "damaged" in r.stderr, r.stderr
    with closing(sqlite3.connect(db)) as c:
        assert c.execute("SELECT count(*) FROM files").fetchone()[0] == 0
    run(deidfs, "export", "--shard", "1/2", "--index-only", *common,
        check=True)
    run(deidfs, "merge", *common, check=True)
    with closing(sqlite3.connect(db)) as c:
        assert c.execute("SELECT count(*) FROM files").fetchone()[0] > 20


def test_merge_stopped_half_way_gives_the_same_ids(deidfs, archive,
                                                   tmp_path):
    """Each shard is merged in a transaction of its own: a merge that stops
    after the first shards (here the last shard db lacks its audit table)
    and is run again with the shard dbs whole gives one machine's index,
    row ids included."""
    one, sh = one_key_dbs(deidfs, tmp_path)
    run(deidfs, "export", "-q", "--csv", archive.csv, "--db", one,
        archive.identified, tmp_path / "o1", check=True)
    common = ["-q", "--csv", archive.csv, "--db", sh, archive.identified,
              tmp_path / "o2"]
    index_shards(deidfs, common, 3)
    last = "%s.shard-2-of-3" % sh
    shutil.copy(last, tmp_path / "whole")
    break_shard_db(last)
    r = run(deidfs, "merge", *common)
    assert r.returncode == 1, r.stderr
    with closing(sqlite3.connect(sh)) as c:
        assert c.execute("SELECT count(*) FROM files").fetchone()[0] > 0
        assert c.execute("SELECT count(*) FROM settings WHERE k = "
                         "'shard.merge_base'").fetchone()[0] == 1
    shutil.copy(tmp_path / "whole", last)
    run(deidfs, "merge", *common, check=True)
    a, b = index_rows(one), index_rows(sh)
    for x, y in zip(a, b):
        assert x == y
    with closing(sqlite3.connect(sh)) as c:
        assert c.execute("SELECT count(*) FROM settings WHERE k = "
                         "'shard.merge_base'").fetchone()[0] == 0


def test_merge_stopped_half_way_then_shards_made_again(deidfs, archive,
                                                       tmp_path):
    """A merge that stops after its first shards, run again once the shard
    dbs were made anew from a changed source (a file added first in the
    walk shifts every rank, one removed): the base the stopped merge
    recorded would give records ids that rows of other paths hold (it
    failed on that before).  The merge completes, every id stays with its
    path, and the index holds the source as it is, as one machine's."""
    src = tmp_path / "src"
    shutil.copytree(archive.identified, src)
    one, sh = one_key_dbs(deidfs, tmp_path)
    common = ["-q", "--csv", archive.csv, "--db", sh, src, tmp_path / "o2"]
    index_shards(deidfs, common, 3)
    break_shard_db("%s.shard-2-of-3" % sh)
    assert run(deidfs, "merge", *common).returncode == 1
    with closing(sqlite3.connect(sh)) as c:
        before = dict(c.execute("SELECT path, id FROM files"))
        assert before
    files = sorted(p for p in src.rglob("*") if p.is_file())
    shutil.copy(files[-1], src / "0-added.dcm")
    files[len(files) // 2].unlink()
    index_shards(deidfs, common, 3)
    r = run(deidfs, "merge", *common)
    assert r.returncode == 0, r.stderr
    run(deidfs, "export", "-q", "--csv", archive.csv, "--db", one, src,
        tmp_path / "o1", check=True)
    with closing(sqlite3.connect(sh)) as c:
        after = dict(c.execute("SELECT path, id FROM files"))
        assert c.execute("SELECT count(*) FROM settings WHERE k = "
                         "'shard.merge_base'").fetchone()[0] == 0
    with closing(sqlite3.connect(one)) as c:
        want = {p for p, in c.execute("SELECT path "
                                      "FROM files")}
    assert set(after) == want
    # a row the stopped merge wrote keeps its id (its inode number)
    for p, i in before.items():
        if p in after:
            assert after[p] == i, p
    assert len(set(after.values())) == len(after)


def test_merge_stopped_twice_after_fresh_base(deidfs, archive, tmp_path):
    """A merge that took a fresh base (its recorded one clashed) and
    stops again resumes from that fresh base: every id stays with its
    path, and the ids stay distinct."""
    src = tmp_path / "src"
    shutil.copytree(archive.identified, src)
    _, sh = one_key_dbs(deidfs, tmp_path)
    common = ["-q", "--csv", archive.csv, "--db", sh, src, tmp_path / "o2"]

    def index():
        index_shards(deidfs, common, 3)

    def breaklast():
        break_shard_db("%s.shard-2-of-3" % sh)

    def ids():
        with closing(sqlite3.connect(sh)) as c:
            return dict(c.execute("SELECT path, id FROM files")), \
                c.execute("SELECT v FROM settings WHERE k = "
                          "'shard.merge_base'").fetchall()

    index()
    breaklast()
    assert run(deidfs, "merge", *common).returncode == 1
    first, b1 = ids()
    files = sorted(p for p in src.rglob("*") if p.is_file())
    shutil.copy(files[-1], src / "0-added.dcm")
    index()
    breaklast()
    assert run(deidfs, "merge", *common).returncode == 1
    second, b2 = ids()
    assert b1 != b2, (b1, b2)          # the fresh base was recorded
    index()                            # the same source: the same plan
    r = run(deidfs, "merge", *common)
    assert r.returncode == 0, r.stderr
    after, b3 = ids()
    assert not b3
    for p, i in list(first.items()) + list(second.items()):
        assert after[p] == i, p
    assert len(set(after.values())) == len(after)
