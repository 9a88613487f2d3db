"""
test_usage.py - what a new user meets first (issue 16): errors that name
the path and leave nothing behind, exit statuses, the mount point checks,
and mounting the way sysadmins do (mount -t fuse.deidfs, /etc/fstab via
mount -T, every option as -o NAME=VALUE).
"""

import os
import subprocess

import pytest

from conftest import run, Mount, _ismount, _unmount


def leftovers(d):
    """Everything in folder d (a db, its -wal/-shm, a report...)."""
    return sorted(os.listdir(d))


def test_failures_before_the_work_name_the_path_and_leave_no_db(
        deidfs, archive, tmp_path):
    """A missing source, a missing CSV, a destination that cannot be
    written, and a --report in a folder that does not exist: each is said
    with the path as given, exit 1, and no db (no new key) is created."""
    work = tmp_path / "work"
    work.mkdir()
    db = work / "new.db"
    ro = tmp_path / "ro"
    ro.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs",
                    str(ro)], check=os.geteuid() == 0)
    if not _ismount(str(ro)):
        os.chmod(ro, 0o555)     # not root: permissions stop us instead
    try:
        cases = [
            (["export", "--db", db, tmp_path / "no-such-src",
              tmp_path / "out"], "no-such-src"),
            (["mount", "--db", db, tmp_path / "no-such-src",
              tmp_path / "mnt"], "no-such-src"),
            (["export", "--db", db, "--csv", tmp_path / "no-such.csv",
              archive.identified, tmp_path / "out"], "no-such.csv"),
            (["mount", "--db", db, "--csv", tmp_path / "no-such.csv",
              archive.identified, tmp_path / "mnt"], "no-such.csv"),
            (["export", "--db", db, archive.identified, ro / "out"],
             str(ro / "out")),
            (["export", "--db", db, archive.identified, ro], str(ro)),
            (["export", "--db", db, archive.identified,
              tmp_path / "missing-parent" / "out"], "missing-parent"),
            (["export", "--db", db, "--report",
              tmp_path / "no-dir" / "r.json", archive.identified,
              tmp_path / "out"], "no-dir"),
        ]
        (tmp_path / "mnt").mkdir()
        for args, path in cases:
            r = run(deidfs, *args)
            assert r.returncode == 1, (args, r.stderr)
            assert path in r.stderr, (args, r.stderr)
            assert "files seen" not in r.stderr, args
            assert leftovers(work) == [], (args, leftovers(work))
        assert not (tmp_path / "out").exists()
    finally:
        _unmount(ro)


def test_mount_point_refusals_exit_2_and_leave_no_db(deidfs, archive,
                                                     tmp_path):
    """-o rw, a bad -o option, a non-empty mount point and a mount point
    with a deidfs mount on it already are usage errors (exit 2), said
    before anything is indexed or created; -o nonempty (--nonempty)
    allows the non-empty one."""
    work = tmp_path / "work"
    work.mkdir()
    db = work / "new.db"
    full = tmp_path / "full"
    full.mkdir()
    (full / "f").write_text("x")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    for args, said in (
            (["-o", "rw", archive.identified, mnt], "-o rw"),
            (["-o", "ro,rw", archive.identified, mnt], "-o rw"),
            (["-o", "bogusopt", archive.identified, mnt], "bogusopt"),
            ([archive.identified, full], "not empty")):
        r = run(deidfs, "mount", "-f", "--db", db, *args)
        assert r.returncode == 2, (args, r.stderr)
        assert said in r.stderr, (args, r.stderr)
        assert leftovers(work) == [], args
        assert not _ismount(str(mnt)) and not _ismount(str(full))
    shared = tmp_path / "p.db"
    with Mount(deidfs, archive.identified, full, shared, csv=archive.csv,
               opts=["-o", "nonempty"], logdir=tmp_path) as m:
        assert "f" not in os.listdir(m.mnt)
        # a second mount on the same mount point: refused, not stacked
        r = run(deidfs, "mount", "--db", db, archive.identified, full)
        assert r.returncode == 2 and "mounted there already" in r.stderr
        assert str(full) in r.stderr
        assert leftovers(work) == []
        with open("/proc/self/mountinfo") as f:
            assert sum(1 for line in f
                       if line.split()[4] == str(full)) == 1
    assert (full / "f").read_text() == "x"


def mounted_opts(mnt):
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            if fields[4] == str(mnt):
                return fields[5].split(","), line.split(" - ")[1].split()
    return None


@pytest.fixture
def rootonly():
    if os.geteuid() != 0:
        pytest.skip("mount -T and mount -t need root here")


def test_fstab_line_mounts_with_every_option_as_o(rootonly, deidfs, archive,
                                                  tmp_path):
    """An /etc/fstab line (a temporary one, through mount -T) mounts the
    view as mount.fuse3 runs it: deidfs SOURCE MOUNTPOINT -o OPTIONS.
    Options of deidfs (db=, csv=, modalities= with an escaped comma,
    layout=, no-header-free csv-name=) and FUSE's (allow_other) share the
    -o list; the result is what `deidfs export` writes with the same
    options.  mount(8) lists it ro, type fuse.deidfs."""
    db, mnt = tmp_path / "p.db", tmp_path / "mnt"
    mnt.mkdir()
    exp = tmp_path / "exp"
    layout = "{patient}/{study_ordinal}/{instance_ordinal}.dcm"
    run(deidfs, "export", "-q", "--db", db, "--csv", archive.csv,
        "--modalities", "MG,OT", "--layout", layout, "--csv-name", "v.csv",
        archive.identified, exp, check=True)
    fstab = tmp_path / "fstab"
    # mount.fuse3 takes "TYPE#SOURCE" for type fuse: the binary under test
    # without installing it (test_install.py runs the installed helper)
    fstab.write_text(
        "%s#%s %s fuse ro,db=%s,csv=%s,modalities=MG\\,OT,layout=%s,"
        "csv-name=v.csv,allow_other,nofail 0 0\n"
        % (deidfs, archive.identified, mnt, db, archive.csv, layout))
    r = run("mount", "-T", fstab, mnt)
    try:
        assert r.returncode == 0, r.stderr
        opts, tail = mounted_opts(mnt)
        assert "ro" in opts and tail[0] == "fuse.deidfs"
        assert "allow_other" in tail[2].split(",")
        got = sorted(os.path.relpath(os.path.join(d, f), mnt)
                     for d, _, fs in os.walk(mnt) for f in fs)
        want = sorted(os.path.relpath(os.path.join(d, f), exp)
                      for d, _, fs in os.walk(exp) for f in fs)
        assert got == want and "v.csv" in got
        some = [p for p in got if p.endswith(".dcm")][0]
        with open(mnt / some, "rb") as a, open(exp / some, "rb") as b:
            assert a.read() == b.read()
    finally:
        _unmount(mnt)
    # without ro, mount(8) passes rw: refused, nothing mounted
    fstab.write_text("%s#%s %s fuse db=%s 0 0\n"
                     % (deidfs, archive.identified, mnt, db))
    r = run("mount", "-T", fstab, mnt)
    assert r.returncode != 0 and "-o rw" in r.stderr
    assert not _ismount(str(mnt))


def test_mount_helper_argument_order(deidfs, archive, tmp_path):
    """deidfs SOURCE MOUNTPOINT -o OPTIONS (mount.fuse3's order) is a
    mount; a mistyped command is still an unknown command (exit 2)."""
    db, mnt = tmp_path / "p.db", tmp_path / "mnt"
    mnt.mkdir()
    r = run(deidfs, "exprot", "-o", "db=%s" % db)
    assert r.returncode == 2 and "unknown command" in r.stderr
    assert not db.exists()
    r = run(deidfs, archive.identified, mnt, "-o",
            "ro,db=%s,csv=%s,quiet" % (db, archive.csv))
    try:
        assert r.returncode == 0, r.stderr
        assert _ismount(str(mnt)) and len(os.listdir(mnt)) > 1
        assert r.stderr == ""   # -o quiet is --quiet
    finally:
        _unmount(mnt)


def test_report_stands_alone(deidfs, archive, tmp_path):
    """--report names the tool and its version, the command line as given,
    start and end (UTC), the counters and the key's fingerprint: the same
    for two runs with one db, another for another db, never the key (read
    from the db here) in any form; the mount writes one too, for what it
    serves, without a write rate."""
    import datetime
    import json
    import sqlite3
    db, rep = tmp_path / "p.db", tmp_path / "r.json"
    args = ["export", "-q", "--db", db, "--csv", archive.csv,
            "--report", rep, archive.identified, tmp_path / "out"]
    run(deidfs, *args, check=True)
    r = json.loads(rep.read_text())
    assert r["tool"] == "deidfs"
    v = run(deidfs, "--version").stdout.split()[1]
    assert r["version"] == v
    assert r["command"] == [str(a) for a in args]
    t0 = datetime.datetime.strptime(r["started"], "%Y-%m-%dT%H:%M:%SZ")
    t1 = datetime.datetime.strptime(r["ended"], "%Y-%m-%dT%H:%M:%SZ")
    now = datetime.datetime.utcnow()
    assert t0 <= t1 <= now and now - t0 < datetime.timedelta(minutes=10)
    assert r["exported"] > 0 and r["files_seen"] > 0
    fp = r["key_fingerprint"]
    assert len(fp) == 32 and int(fp, 16) >= 0
    con = sqlite3.connect(str(db))
    (key,) = con.execute("select v from meta where k = 'key'").fetchone()
    con.close()
    assert isinstance(key, bytes) and len(key) == 32
    text = rep.read_text()
    assert key.hex() not in text.lower()
    assert key.hex()[:16] not in fp and key.hex()[-16:] not in fp
    # the same db: the same fingerprint; another db: another
    rep2 = tmp_path / "r2.json"
    run(deidfs, "export", "-q", "--db", db, "--report", rep2,
        archive.identified, tmp_path / "out2", check=True)
    assert json.loads(rep2.read_text())["key_fingerprint"] == fp
    rep3 = tmp_path / "r3.json"
    run(deidfs, "export", "-q", "--db", tmp_path / "other.db", "--report",
        rep3, archive.identified, tmp_path / "out3", check=True)
    assert json.loads(rep3.read_text())["key_fingerprint"] != fp
    # the mount's report: what it serves, and no rate of writing
    mrep = tmp_path / "m.json"
    with Mount(deidfs, archive.identified, tmp_path / "mnt", db,
               csv=archive.csv, opts=["--report", mrep], logdir=tmp_path) as m:
        mr = json.loads(mrep.read_text())
        assert mr["command"][0] == "mount" and mr["key_fingerprint"] == fp
        assert mr["exported"] == r["exported"]
        assert "throughput_mb_s" not in mr
        assert "MB/s" not in m.stderr and "indexed in" in m.stderr


def test_background_mount_shows_progress_on_a_terminal(deidfs, archive,
                                                       tmp_path):
    """Without -f, on a terminal, the mount shows the index's progress
    before it goes to the background, then its summary."""
    import pty
    master, slave = pty.openpty()
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    p = subprocess.Popen([deidfs, "mount", "--db", str(tmp_path / "p.db"),
                          str(archive.identified), str(mnt)],
                         stdin=subprocess.DEVNULL, stdout=slave,
                         stderr=slave)
    os.close(slave)
    out = b""
    try:
        assert p.wait(timeout=120) == 0
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
    finally:
        os.close(master)
        _unmount(mnt)
    text = out.decode("utf-8", "surrogateescape")
    from conftest import record_output
    record_output("mount on a pty", text)
    assert "index  [" in text and "##############################]" in text
    assert "files seen" in text and "indexed in" in text


def test_csv_rows_name_the_folder_of_their_study(deidfs, archive, tmp_path):
    """The cleaned CSV's last column, view_folder, names the folder of the
    study each row links to, so that two studies of one woman in one month
    (2012-01/ and 2012-01_2/) are told apart.  The oracle is independent of
    the naming: a file of the folder, its StudyInstanceUID mapped back to
    the original through the db, the archive's own record of which CSV line
    belongs to that study, and that line's clinical cells."""
    import csv
    import io
    import sqlite3
    import pydicom
    db, out = tmp_path / "p.db", tmp_path / "out"
    run(deidfs, "export", "-q", "--db", db, "--csv", archive.csv,
        "--with-quarantine", archive.identified, out, check=True)
    rows = list(csv.reader(io.StringIO(
        (out / "cleaned_variables.csv").read_text(encoding="utf-8")),
        delimiter=";"))
    assert rows[0][-1] == "view_folder"
    source = list(csv.reader(io.StringIO(
        archive.csv.read_text(encoding="utf-8")), delimiter=";"))
    con = sqlite3.connect(str(db))
    orig = dict(con.execute("select pseudo, orig from uids"))
    con.close()
    study_of_uid = {s["study_uid"]: s["key"]
                    for s in archive.truth["studies"]}
    line_of_study = {r["study"]: r["line"]
                     for r in archive.truth["csv"]["rows"] if r["study"]}
    lines, folders = [], []
    for row in rows[1:]:
        folder = row[-1]
        assert folder and "|" not in folder, row[-1]
        dcm = sorted((out / folder).rglob("*.dcm"))
        assert dcm, folder
        uid = pydicom.dcmread(str(dcm[0]), stop_before_pixels=True) \
            .StudyInstanceUID
        line = line_of_study[study_of_uid[orig[uid]]]
        src = source[line - 1]
        # fnr, (id dropped), month, then the clinical cells as they were
        # (column 10, a date, becomes days: not compared)
        assert row[2:8] == src[3:9], (folder, line)
        assert row[1] == "%s-%s" % (src[2][6:10], src[2][3:5])
        lines.append(line)
        folders.append(folder)
    assert lines == sorted(lines) and len(set(lines)) == len(lines)
    assert len(set(folders)) == len(folders)
    # the woman with two studies in one month: two rows, two folders
    pair = archive.truth["same_month"][0]
    pair_folders = [folders[lines.index(line_of_study[k])] for k in pair]
    assert len(set(pair_folders)) == 2
    assert pair_folders[1] == pair_folders[0] + "_2"


# what a message tells the user to do, in the words deidfs uses
TO_DO = ("give ", "run ", "create ", "choose ", "drop ", "check ", "mount ",
         "use ", "restore ", "keep ", "make ", "lists the options")


def test_errors_say_the_cause_and_what_to_do(deidfs, archive, tmp_path):
    """Each refusal names what it refused (the path or the option as
    given) and says what to do; an export refuses what only a mount takes
    (-o with a FUSE option, -f, -d) rather than ignore it; none leaves a db
    behind."""
    work = tmp_path / "work"
    work.mkdir()
    db = work / "new.db"
    src = archive.identified
    cases = [
        (["export", "--db", db, "-o", "allow_other", src, tmp_path / "o"],
         2, "allow_other"),
        (["export", "--db", db, "-f", src, tmp_path / "o"], 2, "-f"),
        (["export", "--db", db, "--nonempty", src, tmp_path / "o"], 2,
         "--nonempty"),
        (["export", "--db", tmp_path / "no-dir" / "x.db", src,
          tmp_path / "o"], 1, str(tmp_path / "no-dir" / "x.db")),
        (["export", "--db", src / "x.db", src, tmp_path / "o"], 2,
         str(src / "x.db")),
        (["export", "--db", db, src, src / "out"], 2, str(src / "out")),
        (["export", "--db", db, "--month-dates",
          "--retain-long-modified-dates", src, tmp_path / "o"], 2,
         "--month-dates"),
        (["export", "--db", db, "--jobs", "0", src, tmp_path / "o"], 2,
         "--jobs"),
        (["frob"], 2, "frob"),
        # verify and lookup: a db that is not there, a dataset that is no
        # folder, a key not in the db
        (["verify", "--db", work / "none.db", tmp_path], 1,
         str(work / "none.db")),
        (["lookup", "--db", work / "none.db", "x/y.dcm"], 1,
         str(work / "none.db")),
    ]
    for args, status, named in cases:
        r = run(deidfs, *args)
        assert r.returncode == status, (args, r.stderr)
        assert named in r.stderr, (args, r.stderr)
        assert any(w in r.stderr for w in TO_DO), (args, r.stderr)
        assert leftovers(work) == [], (args, leftovers(work))
    assert not (tmp_path / "o").exists()
