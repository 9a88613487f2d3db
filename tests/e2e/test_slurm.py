"""
test_slurm.py - a sharded run submitted to a real Slurm cluster by
scripts/deidfs-slurm (issue 17; README "On a cluster: a sharded run").

The module starts a one-node cluster on localhost as root: munged with a
key of its own, slurmctld and slurmd in the foreground with a slurm.conf of
the test (proctrack/linuxproc, task/none, no cgroups, free ports, state in
a tmp folder; SLURM_CONF points the clients at it), and stops all three at
its end.  Debian's slurm-wlm and munge come from scripts/install-deps.sh;
without them, or without root, the module is skipped.

- N = 4 tasks with a new db give the tree one machine's export writes with
  the merged db, byte for byte (names, bytes, sizes, mtimes, marks).
- A task killed in the middle of its work stops the run: the kernel kills
  it, since the test's shim (not deidfs) runs the first attempt of index
  task 1, and of an export task with files to write, under a 4 KiB
  file-size limit, so SIGXFSZ ends it while it writes its shard db or an
  output file.  `deidfs-slurm --retry` submits that task alone and the
  phases after it; the tree is then one machine's export with the same db.
"""

import ctypes
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import time

import pytest

from conftest import REPO, record_output, run
from test_shard import beside, tree

WRAPPER = REPO / "scripts" / "deidfs-slurm"
PHASES = ("index", "merge", "export", "final")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(what, cond, timeout=30):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = cond()
        if got:
            return got
        time.sleep(0.2)
    raise AssertionError("timed out waiting for " + what)


PR_SET_CHILD_SUBREAPER = 36


def _subreaper(on):
    """slurmd's step daemons (slurmstepd) leave it: as their subreaper we,
    not this machine's init (which may not reap), wait for them."""
    libc = ctypes.CDLL(None, use_errno=True)
    return libc.prctl(PR_SET_CHILD_SUBREAPER, int(on), 0, 0, 0) == 0


def _orphans():
    """Our children that are not ours by Popen: slurmstepd processes."""
    me, out = os.getpid(), []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open("/proc/%s/stat" % pid) as fh:
                st = fh.read()
        except OSError:
            continue
        fields = st[st.rindex(")") + 2:].split()
        if int(fields[1]) == me and "slurm" in st[:st.rindex(")")]:
            out.append(int(pid))
    return out


class Cluster:
    def __init__(self, d):
        self.d = d
        self.procs = []
        self.env = dict(os.environ, SLURM_CONF=str(d / "slurm.conf"))

    def start(self, *cmd, name):
        log = open(self.d / (name + ".log"), "wb")
        p = subprocess.Popen([str(c) for c in cmd], stdout=log,
                             stderr=subprocess.STDOUT, env=self.env,
                             start_new_session=True)
        log.close()
        self.procs.append(p)
        return p

    def cmd(self, *args, check=True):
        return run(*args, env=self.env, check=check, timeout=60)

    def queue(self):
        """[(job id, state, reason)] of the jobs in the queue."""
        out = self.cmd("squeue", "-h", "-o", "%F %T %r").stdout
        return [tuple(line.split(None, 2)) for line in out.splitlines()]

    def stop(self):
        try:
            self.cmd("scancel", "--full", "-u", "root", check=False)
            _wait("the queue to empty", lambda: not self.queue(), 20)
        except Exception:
            pass
        for p in reversed(self.procs):	# slurmd, slurmctld, munged
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
                try:
                    p.wait(15)
                except subprocess.TimeoutExpired:
                    os.killpg(p.pid, signal.SIGKILL)
                    p.wait()
        for pid in _orphans():
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except OSError:
                pass


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    need = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "sinfo")
    missing = [c for c in need if not shutil.which(c)]
    if missing:
        pytest.skip("no %s (scripts/install-deps.sh installs slurm-wlm "
                    "and munge)" % " ".join(missing))
    if os.geteuid() != 0:
        pytest.skip("a one-node Slurm cluster needs root")
    d = tmp_path_factory.mktemp("slurm")
    for sub in ("state", "spool", "munge"):
        (d / sub).mkdir()
    os.chmod(d / "munge", 0o700)
    key = d / "munge" / "munge.key"
    key.write_bytes(os.urandom(1024))
    os.chmod(key, 0o400)
    sock = d / "munge" / "socket"
    host = socket.gethostname()
    (d / "slurm.conf").write_text("\n".join([
        "ClusterName=deidfstest",
        "SlurmctldHost=localhost",
        "SlurmctldPort=%d" % _free_port(),
        "SlurmdPort=%d" % _free_port(),
        "SlurmUser=root",
        "SlurmdUser=root",
        "AuthType=auth/munge",
        "CredType=cred/munge",
        "AuthInfo=socket=%s" % sock,
        "StateSaveLocation=%s" % (d / "state"),
        "SlurmdSpoolDir=%s" % (d / "spool"),
        "SlurmctldPidFile=%s" % (d / "slurmctld.pid"),
        "SlurmdPidFile=%s" % (d / "slurmd.pid"),
        "ProctrackType=proctrack/linuxproc",
        "TaskPlugin=task/none",
        "JobAcctGatherType=jobacct_gather/none",
        "MpiDefault=none",
        "SelectType=select/cons_tres",
        "SelectTypeParameters=CR_Core",
        "ReturnToService=2",
        "NodeName=%s NodeAddr=127.0.0.1 CPUs=2 State=UNKNOWN" % host,
        "PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE "
        "State=UP",
        ""]))
    c = Cluster(d)
    reaper = _subreaper(True)
    try:
        # munged refuses a key folder under a world-writable /tmp unless
        # forced; the key is still 0400 and the socket its own
        c.start("munged", "-F", "--force", "--socket", sock, "--key-file",
                key, "--pid-file", d / "munge" / "pid", "--seed-file",
                d / "munge" / "seed", "--log-file", d / "munged.file",
                name="munged")
        _wait("munged", sock.exists)
        conf = d / "slurm.conf"
        c.start("slurmctld", "-D", "-f", conf, name="slurmctld")
        c.start("slurmd", "-D", "-f", conf, "-N", host, name="slurmd")
        _wait("the node to be idle", lambda: c.cmd(
            "sinfo", "-h", "-o", "%t", check=False).stdout.strip()
            == "idle", 60)
        yield c
    finally:
        c.stop()
        if reaper:
            _subreaper(False)
        for p in c.procs:
            assert p.poll() is not None
        assert _orphans() == []


def submit(slurm, deidfs, runs, *args):
    """deidfs-slurm's output: {phase: job id}."""
    env = dict(slurm.env, DEIDFS=str(deidfs))
    r = run(WRAPPER, *args, env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    jobs = dict(line.split() for line in r.stdout.splitlines())
    assert all(v.isdigit() for v in jobs.values()), r.stdout
    return jobs


def settle(slurm, run_dir, timeout=90):
    """Wait until nothing of the run can go on (an empty queue, or only
    jobs waiting on a failed one, directly or through another); record the tasks' logs for the session's
    PHI check; the queue left."""
    def still():
        q = slurm.queue()
        if not q:
            return [None]
        if all(s == "PENDING" and r.startswith("Dependency")
               for _, s, r in q) and \
                any(r == "DependencyNeverSatisfied" for _, _, r in q):
            return q
        return None
    try:
        q = _wait("the run", still, timeout)
    except AssertionError:
        raise AssertionError("the run did not settle: %r, done %r" %
                             (slurm.queue(), done(run_dir)))
    for f in sorted((run_dir / "log").iterdir()):
        record_output("slurm " + f.name, f.read_bytes())
    return [j for j in q if j]


def done(run_dir):
    return sorted(os.listdir(run_dir / "done"))


def all_done(n):
    return sorted(["merge", "final"] + ["%s-%d" % (p, i)
                                        for p in ("index", "export")
                                        for i in range(n)])


@pytest.fixture(scope="module")
def single(deidfs, archive, tmp_path_factory):
    """One machine's export with a new db, and that db."""
    d = tmp_path_factory.mktemp("single")
    run(deidfs, "export", "-q", "--with-quarantine", "--csv", archive.csv,
        "--db", d / "p.db", archive.identified, d / "out", check=True)
    return d / "p.db", tree(d / "out")


def test_slurm_run_is_one_machines(slurm, deidfs, archive, tmp_path):
    """N = 4 with a new db: the index tasks (two at a time on the node)
    make the project db once and parse their shares; the tree is the one
    machine's export with (a copy of) the merged db writes."""
    db = tmp_path / "p.db"
    rd = tmp_path / "run"
    jobs = submit(slurm, deidfs, rd, rd, "4", "--with-quarantine",
                  "--csv", archive.csv, "--db", db, archive.identified,
                  tmp_path / "out")
    assert list(jobs) == list(PHASES)
    assert settle(slurm, rd) == []
    assert done(rd) == all_done(4)
    assert beside(db) == []
    one = tmp_path / "one.db"
    shutil.copy(db, one)
    r = run(deidfs, "export", "--with-quarantine", "--csv", archive.csv,
            "--db", one, "--report", tmp_path / "r.json",
            archive.identified, tmp_path / "one", check=True)
    rep = json.loads((tmp_path / "r.json").read_text())
    assert rep["files_analysed"] == 0 and rep["files_unchanged"] == \
        rep["files_seen"] > 0, r.stderr
    got, want = tree(tmp_path / "out"), tree(tmp_path / "one")
    assert sorted(got) == sorted(want)
    for k in got:
        assert got[k] == want[k], k
    r = run(WRAPPER, "--retry", rd, env=slurm.env)
    assert r.returncode == 0 and "complete" in r.stderr and not r.stdout


def share(pseudonym, n):
    """view_node_shard() of a woman's files (fs/view_shard.c): FNV-1a of
    her pseudonym, folded to 32 bits (0 made 1), modulo n."""
    h = 14695981039346656037
    for c in pseudonym.encode():
        h = ((h ^ c) * 1099511628211) & (2 ** 64 - 1)
    return ((h ^ (h >> 32)) & 0xffffffff or 1) % n


SHIM = """#!/bin/bash
# The test's stand-in for deidfs: the first attempt of index task 1 and of
# export task %(k)d runs under a 4 KiB file-size limit, so the kernel ends it
# (SIGXFSZ) in the middle of its first write past 4 KiB.
phase=merge
[ "$1" = export ] && phase=export
for a; do [ "$a" = --index-only ] && phase=index; done
case $phase-${SLURM_ARRAY_TASK_ID:-} in
index-1|export-%(k)d)
	if mkdir %(flags)s/$phase 2>/dev/null; then
		ulimit -f 4
	fi ;;
esac
exec %(deidfs)s "$@"
"""


def test_killed_task_is_retried_alone(slurm, deidfs, archive, single,
                                      tmp_path):
    """With a copy of one machine's db, index task 1 and then an export
    task with files to write (a woman's share, from her folder's name, the
    pseudonym) die mid-run; each is submitted again alone with the phases
    after it, and the tree is that machine's export."""
    # a woman's folder: not ".", not ".quarantine" (whose "share" was
    # taken before, and with a new key each session the task it named
    # had no woman about one time in five: it wrote nothing and lived)
    k = share(sorted(p for p in single[1] if "/" not in p and
                     single[1][p][0] == stat.S_IFDIR and
                     not p.startswith("."))[0], 4)
    (tmp_path / "flags").mkdir()
    shim = tmp_path / "deidfs-shim"
    shim.write_text(SHIM % {"flags": tmp_path / "flags", "k": k,
                            "deidfs": deidfs})
    shim.chmod(0o755)
    db = tmp_path / "p.db"
    shutil.copy(single[0], db)
    rd = tmp_path / "run"
    opts = ["--with-quarantine", "--csv", archive.csv, "--db", db,
            archive.identified, tmp_path / "out"]
    jobs = submit(slurm, shim, rd, rd, "4", *opts)

    # index task 1 is killed: the rest of the run waits on it for ever
    left = settle(slurm, rd)
    assert os.path.isdir(tmp_path / "flags" / "index")
    assert done(rd) == ["index-0", "index-2", "index-3"]
    assert sorted(j[0] for j in left) == sorted([jobs["merge"],
                                                 jobs["export"],
                                                 jobs["final"]])
    # a merge by hand would name the task
    r = run(deidfs, "merge", *opts)
    assert r.returncode == 1 and "task 1/4" in r.stderr, r.stderr

    again = submit(slurm, shim, rd, "--retry", rd)
    assert list(again) == list(PHASES)
    # export task k is killed in turn, with files of its share written
    left = settle(slurm, rd)
    assert os.path.isdir(tmp_path / "flags" / "export")
    assert [j[0] for j in left] == [again["final"]]
    assert done(rd) == sorted(["merge"] + ["index-%d" % i for i in range(4)]
                              + ["export-%d" % i for i in range(4) if i != k])
    assert "File size limit" in \
        (rd / "log" / ("export-%s_%d.out" % (again["export"], k))).read_text()

    last = submit(slurm, shim, rd, "--retry", rd)
    assert list(last) == ["export", "final"]
    assert settle(slurm, rd) == []
    assert done(rd) == all_done(4)
    # what the killed attempts left beside the db is gone too
    assert beside(db) == []
    got = tree(tmp_path / "out")
    assert sorted(got) == sorted(single[1])
    for p in got:
        assert got[p] == single[1][p], p


def test_retry_refuses_a_run_still_going(slurm, tmp_path):
    """--retry while a task of the run is queued or running submits
    nothing."""
    rd = tmp_path / "run"
    (rd / "done").mkdir(parents=True)
    (rd / "n").write_text("1\n")
    (rd / "sbatch-options").write_bytes(b"")
    r = slurm.cmd("sbatch", "--parsable", "--wrap", "sleep 30")
    job = r.stdout.strip().split(";")[0]
    try:
        (rd / "jobs").write_text("index %s\n" % job)
        r = run(WRAPPER, "--retry", rd, env=slurm.env)
        assert r.returncode == 1 and "job %s" % job in r.stderr, r.stderr
        assert (rd / "jobs").read_text() == "index %s\n" % job
    finally:
        slurm.cmd("scancel", job, check=False)
    r = run(WRAPPER, "4", env=slurm.env)
    assert r.returncode == 2
