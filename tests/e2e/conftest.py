"""
conftest.py - shared fixtures of the end-to-end tests (pytest, run with
/usr/bin/python3 -m pytest tests/e2e).

Fixtures
--------
archive          (session) an identified test archive made once per test run
                 by scripts/make_archive.py (--women 6 --seed 20240601, 64x64
                 images).  An Archive object, see below.  Read-only: tests
                 must not modify it (copy it with shutil.copytree first).
archive_factory  (session) make_archive(**opts) -> Archive, for tests that
                 need another seed, size or a private copy; opts are seed,
                 women, rows, cols, big (each run gets its own directory).
archive_copy     (function) a private, writable copy of the session archive
                 (an Archive under tmp_path), for tests that change files.
deidfs           path (str) of the deidfs binary: $DEIDFS, else
                 <repo>/build/deidfs.  Tests that use this fixture are
                 skipped when the binary does not exist.
repo             the repository root (pathlib.Path).
tests_data       <repo>/tests/data (pathlib.Path), the real sample files
                 described by tests/data/MANIFEST.tsv.

Helpers (import with `from conftest import run, Archive` or use directly)
-------
run(*args, check=False, timeout=600, input=None, env=None, cwd=None)
    Run a command (arguments are str()-ed) and return the
    subprocess.CompletedProcess with stdout and stderr captured as str,
    decoded as UTF-8 with surrogateescape (so find_phi() sees their original
    bytes).  check=True raises AssertionError with both streams when the exit
    status is not 0.

record_output(label, text)
    Add text (str or bytes) to what the session PHI check searches: run()
    does it for every command with an argument named deidfs; tests that
    start deidfs otherwise (a mount's log) call it themselves.

Session check (autouse, no_phi_in_deidfs_output)
-------------
    At the end of the session the stdout and stderr of every deidfs run
    made through run() (and all record_output() texts) are searched with
    find_phi() for the planted strings of every archive made in the
    session; a hit fails the run (an error at the teardown of the last
    test).  tests/e2e/test_secrets.py proves it can fail.

Archive attributes
------------------
root        OUTDIR (pathlib.Path) holding identified/ and variables.csv
identified  OUTDIR/identified: the source tree to give deidfs
csv         OUTDIR/variables.csv: the registry CSV
phi         the whole --phi-out JSON (dict), see scripts/make_archive.py
strings     phi["strings"]: every planted string that must never appear in a
            de-identified output made with default options (bytes or names)
ids, names, uids, dates, times, categories, where
            the other keys of the JSON; dates/times are NOT in strings
truth       phi["truth"]: women, studies, files, csv rows, unlinked studies,
            same-month study pairs (documented in make_archive.build_truth)

Archive methods
---------------
path(f)           absolute path (str, surrogateescape) of a truth file record
files(**match)    the truth file records whose fields equal the given values,
                  e.g. archive.files(expect="publish", kind="mg")
published()       records that a correct de-identifier publishes with the
                  default modality list (expect == "publish")
quarantined()     records it must not publish (expect == "quarantine")
strings_except(*categories)
                  strings minus those of the given categories, for runs with
                  a retain option (e.g. strings_except("uid") with retained
                  UIDs, "device", "institution")
"""

import csv
import hashlib
import io
import json
import os
import pathlib
import shutil
import subprocess
import sys
import time

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
MAKE_ARCHIVE = REPO / "scripts" / "make_archive.py"
DEFAULT_SEED = 20240601
DEFAULT_WOMEN = 6


def run(*args, check=False, timeout=600, input=None, env=None, cwd=None):
    cmd = [str(a) for a in args]
    if isinstance(input, str):
        input = input.encode("utf-8", "surrogateescape")
    p = subprocess.run(cmd, input=input, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=timeout, env=env,
                       cwd=None if cwd is None else str(cwd))
    out = subprocess.CompletedProcess(
        p.args, p.returncode,
        p.stdout.decode("utf-8", "surrogateescape"),
        p.stderr.decode("utf-8", "surrogateescape"))
    if any(os.path.basename(c) == "deidfs" for c in cmd):
        record_output(" ".join(cmd[:2]), out.stdout)
        record_output(" ".join(cmd[:2]), out.stderr)
    if check and out.returncode != 0:
        raise AssertionError("%s exited with %d\n--- stdout\n%s\n--- stderr\n%s"
                             % (cmd[0], out.returncode, out.stdout[-4000:],
                                out.stderr[-4000:]))
    return out


REASONS_HEADER = ["file", "reason", "rule", "attribute"]


def read_reasons(data):
    """The rows of a .quarantine/reasons.csv (its bytes, or a path) as
    dicts with the keys of REASONS_HEADER, after checking the header."""
    if not isinstance(data, bytes) and "\n" not in str(data):
        with open(str(data), "rb") as f:       # a path
            data = f.read()
    if isinstance(data, bytes):
        data = data.decode("utf-8", "surrogateescape")
    rows = list(csv.reader(io.StringIO(data, newline="")))
    assert rows and rows[0] == REASONS_HEADER, rows[:1]
    assert all(len(r) == len(REASONS_HEADER) for r in rows), rows
    return [dict(zip(REASONS_HEADER, r)) for r in rows[1:]]


class Archive:
    def __init__(self, root, phi_path):
        self.root = pathlib.Path(root)
        self.identified = self.root / "identified"
        self.csv = self.root / "variables.csv"
        self.phi_path = pathlib.Path(phi_path)
        with open(phi_path, encoding="utf-8") as f:
            self.phi = json.load(f)
        for k in ("strings", "ids", "names", "uids", "dates", "times",
                  "categories", "where", "truth"):
            setattr(self, k, self.phi[k])

    def path(self, f):
        return os.path.join(str(self.identified), f["path"])

    def files(self, **match):
        return [f for f in self.truth["files"]
                if all(f.get(k) == v for k, v in match.items())]

    def published(self):
        return self.files(expect="publish")

    def quarantined(self):
        return self.files(expect="quarantine")

    def strings_except(self, *categories):
        drop = set()
        for c in categories:
            drop.update(self.categories.get(c, []))
        return [s for s in self.strings if s not in drop]

    def __repr__(self):
        return "Archive(%r)" % str(self.root)


ENCAPSULATED_NOT = ("1.2.840.10008.1.2", "1.2.840.10008.1.2.1",
                    "1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99")


def decoded_pixels(path):
    """(transfer syntax, the image's decoded pixel bytes) of a DICOM file:
    native pixel data as stored; encapsulated pixel data decoded by GDCM
    (gdcmconv --raw), so that a blanked comment or a regenerated offset
    table compares equal while a changed image does not."""
    import pydicom
    ds = pydicom.dcmread(str(path))
    ts = str(ds.file_meta.TransferSyntaxUID)
    if "PixelData" not in ds:
        return ts, None
    if ts in ENCAPSULATED_NOT:
        return ts, bytes(ds.PixelData)
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        raw = os.path.join(tmp, "raw.dcm")
        run("gdcmconv", "--raw", path, raw, check=True)
        return ts, bytes(pydicom.dcmread(raw).PixelData)


# --- the mount harness: every test that mounts uses this -------------------

MOUNT_TIMEOUT = 120


def _fuse_usable():
    if not os.path.exists("/dev/fuse"):
        return "no /dev/fuse (no FUSE in this machine or container)"
    if not os.access("/dev/fuse", os.R_OK | os.W_OK):
        return "/dev/fuse is not usable by this user"
    if shutil.which("fusermount3") is None:
        return "fusermount3 not installed (package fuse3)"
    return None


def _ismount(p):
    try:
        return os.path.ismount(p)
    except OSError:
        return True     # a dead FUSE mount: stat fails, still mounted


def _unmount(mnt):
    """Unmount, lazily if it must; never raises."""
    if not _ismount(mnt):
        return
    subprocess.run(["fusermount3", "-u", str(mnt)], stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    if _ismount(mnt):
        time.sleep(0.2)
        subprocess.run(["fusermount3", "-uz", str(mnt)],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


class Mount:
    """`deidfs mount -f` in the background; always unmounted by stop()."""

    def __init__(self, deidfs, source, mnt, db, csv=None, opts=(),
                 logdir=None):
        self.deidfs = deidfs
        self.source = str(source)
        self.mnt = str(mnt)
        self.db = str(db)
        self.csv = csv
        self.opts = list(opts)
        self.log = os.path.join(str(logdir or os.path.dirname(self.mnt)),
                                "mount-%d.stderr" % id(self))
        self.proc = None
        self.rc = None

    def argv(self, foreground=True):
        a = [self.deidfs, "mount"]
        if foreground:
            a.append("-f")
        a += ["--db", self.db]
        if self.csv:
            a += ["--csv", str(self.csv)]
        return a + [str(o) for o in self.opts] + [self.source, self.mnt]

    def start(self):
        os.makedirs(self.mnt, exist_ok=True)
        self._err = open(self.log, "wb")
        self.proc = subprocess.Popen(self.argv(), stdout=self._err,
                                     stderr=self._err)
        deadline = time.monotonic() + MOUNT_TIMEOUT
        while not _ismount(self.mnt):
            if self.proc.poll() is not None:
                self._err.close()
                raise AssertionError("deidfs mount exited with %d:\n%s"
                                     % (self.proc.returncode, self.stderr))
            if time.monotonic() > deadline:
                self.stop()
                raise AssertionError("mount not ready after %ds"
                                     % MOUNT_TIMEOUT)
            time.sleep(0.05)
        os.listdir(self.mnt)    # answers requests
        return self

    def stop(self, strict=False):
        """Unmount and reap the daemon; strict: a daemon that does not
        exit after the unmount fails the test."""
        if self.proc is None:
            return self.rc
        _unmount(self.mnt)
        try:
            self.rc = self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.rc = self.proc.wait()
            if strict:
                self._err.close()
                self.proc = None
                pytest.fail("the mount daemon did not exit after unmount")
        self._err.close()
        self.proc = None
        return self.rc

    @property
    def stderr(self):
        with open(self.log, "rb") as f:
            return f.read().decode("utf-8", "surrogateescape")

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def make_archive(outdir, seed=DEFAULT_SEED, women=DEFAULT_WOMEN, rows=None,
                 cols=None, big=False):
    """Run scripts/make_archive.py into outdir; returns an Archive."""
    outdir = pathlib.Path(outdir)
    phi = outdir.parent / (outdir.name + ".phi.json")
    args = [sys.executable, MAKE_ARCHIVE, outdir, "--seed", seed,
            "--women", women, "--phi-out", phi]
    if rows is not None:
        args += ["--rows", rows]
    if cols is not None:
        args += ["--cols", cols]
    if big:
        args.append("--big")
    run(*args, check=True)
    arch = Archive(outdir, phi)
    _SESSION_ARCHIVES.append(arch)
    return arch


@pytest.fixture(scope="session")
def repo():
    return REPO


@pytest.fixture(scope="session")
def tests_data():
    return REPO / "tests" / "data"


@pytest.fixture(scope="session")
def archive(tmp_path_factory):
    return make_archive(tmp_path_factory.mktemp("archive") / "out")


@pytest.fixture(scope="session")
def archive_factory(tmp_path_factory):
    def factory(**opts):
        return make_archive(tmp_path_factory.mktemp("archive") / "out",
                            **opts)
    return factory


@pytest.fixture(scope="session")
def deidfs():
    path = os.environ.get("DEIDFS") or str(REPO / "build" / "deidfs")
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        pytest.skip("deidfs binary not found at %s (set DEIDFS or run make)"
                    % path)
    return path


@pytest.fixture
def archive_copy(archive, tmp_path):
    """A private, writable copy of the session archive (pathlib.Path root)."""
    dst = tmp_path / "archive"
    shutil.copytree(str(archive.root), str(dst), symlinks=True)
    return Archive(dst, archive.phi_path)


# --- the session PHI check: all deidfs output, every archive's strings ----

_SESSION_OUTPUTS = []       # (label, str or bytes)
_SESSION_ARCHIVES = []      # every Archive made by make_archive()


def record_output(label, text):
    if text:
        _SESSION_OUTPUTS.append((str(label), text))


def session_phi_hits():
    """find_phi() over every recorded output with the planted strings of
    every archive made so far in this session ([] when there is none)."""
    from phi import find_phi
    strings = set()
    for a in _SESSION_ARCHIVES:
        strings.update(a.strings)
    if not strings or not _SESSION_OUTPUTS:
        return []
    return find_phi(None, sorted(strings), extra_texts=_SESSION_OUTPUTS)


@pytest.fixture(scope="session", autouse=True)
def no_phi_in_deidfs_output():
    yield
    hits = session_phi_hits()
    assert not hits, (
        "planted PHI in the output of deidfs (%d deidfs outputs checked): %s"
        % (len(_SESSION_OUTPUTS), hits[:20]))


# ------------------------------------------------- large byte strings

_BIG = 512      # bytes: longer values are summarised, never printed whole


def _has_big_bytes(x):
    if isinstance(x, (bytes, bytearray)):
        return len(x) > _BIG
    if isinstance(x, (tuple, list)):
        return any(_has_big_bytes(y) for y in x)
    return False


def _digest(x):
    """A short stand-in for a value that may hold large byte strings."""
    if isinstance(x, (bytes, bytearray)):
        if len(x) <= _BIG:
            return repr(bytes(x))
        return "<%d bytes sha256:%s>" % (
            len(x), hashlib.sha256(x).hexdigest()[:16])
    if isinstance(x, (tuple, list)):
        inner = ", ".join(_digest(y) for y in x)
        return "(%s)" % inner if isinstance(x, tuple) else "[%s]" % inner
    return repr(x)


def _first_diff(a, b):
    n = min(len(a), len(b))
    for i in range(0, n, 4096):
        if a[i:i + 4096] != b[i:i + 4096]:
            for j in range(i, min(i + 4096, n)):
                if a[j] != b[j]:
                    return j
    return n


def pytest_assertrepr_compare(op, left, right):
    """A failed == or != on large byte strings (file contents) shows
    lengths, digests and the first differing offset, not megabytes of
    repr (which pytest takes minutes to diff)."""
    if op not in ("==", "!=") or not (_has_big_bytes(left) or
                                      _has_big_bytes(right)):
        return None
    lines = ["%s %s %s" % (_digest(left), op, _digest(right))]
    pairs = [(left, right)]
    if isinstance(left, (tuple, list)) and isinstance(right, (tuple, list)):
        pairs = list(zip(left, right))
    for i, (a, b) in enumerate(pairs):
        if isinstance(a, (bytes, bytearray)) and \
                isinstance(b, (bytes, bytearray)) and a != b:
            lines.append("item %d: first difference at byte %d "
                         "(lengths %d and %d)" % (i, _first_diff(a, b),
                                                  len(a), len(b)))
    return lines


# --- skips that hide a broken machine --------------------------------------
#
# A module-level importorskip or a FUSE skipif can turn a whole suite into
# skips while the run stays green.  On a machine that can run everything
# (/dev/fuse present, as CI's), a skip is a failure unless its reason is
# one of the few that depend on how the run was asked for, not on what the
# machine lacks.  DEIDFS_ALLOW_SKIPS=1 relaxes this for a developer's
# machine without root or tools.

ALLOWED_SKIPS = (
    "sanitizers",               # tests the plain build runs
    "golden.json regenerated",  # DEIDFS_GOLDEN_UPDATE
    "too slow to put both runs in one",  # a timing window, retried later
    "O_DIRECT not supported",   # the file system of the temp dir
    "no xattrs on this filesystem",
    "a system logger owns /dev/log",  # the syslog test binds it itself
)
_SKIPPED = []


def pytest_runtest_logreport(report):
    if report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) \
            else str(report.longrepr)
        _SKIPPED.append((report.nodeid, reason))


def pytest_sessionfinish(session, exitstatus):
    if os.environ.get("DEIDFS_ALLOW_SKIPS") or \
            not os.path.exists("/dev/fuse"):
        return
    bad = [(n, r) for n, r in _SKIPPED
           if not any(a in r for a in ALLOWED_SKIPS)]
    if bad:
        tr = session.config.pluginmanager.get_plugin("terminalreporter")
        if tr is not None:
            tr.write_line("")
            tr.write_line("FAILED: %d test(s) skipped on a machine that has "
                          "/dev/fuse (set DEIDFS_ALLOW_SKIPS=1 to allow):"
                          % len(bad), red=True)
            for n, r in bad[:20]:
                tr.write_line("  %s: %s" % (n, r))
        session.exitstatus = 1
