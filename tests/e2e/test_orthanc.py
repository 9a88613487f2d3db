"""
test_orthanc.py - a woman's studies, sent from the mount to Orthanc (Debian's
`orthanc` package, started here on localhost with its own configuration in
a temporary folder and ports of its own, no system service), are told
apart there (issue 16): one study per folder, each with its own Study ID,
and the study's month and that ID as its description.

Files go over DICOM with dcmtk's storescu, as a PACS would receive them;
what Orthanc made of them is read over its REST API.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from conftest import Mount, _fuse_usable, run  # noqa: E402

ORTHANC = shutil.which("Orthanc")
STORESCU = shutil.which("storescu")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rest(port, path):
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path),
                                timeout=10) as r:
        return json.loads(r.read().decode())


class Orthanc:
    """Orthanc on 127.0.0.1 with its storage and configuration in tmp; no
    plugins, no remote access, no authentication (loopback only)."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.http = free_port()
        self.dicom = free_port()
        self.log = open(str(tmp / "orthanc.log"), "wb")
        conf = {
            "Name": "deidfs-test",
            "StorageDirectory": str(tmp / "storage"),
            "IndexDirectory": str(tmp / "storage"),
            "Plugins": [],
            "HttpPort": self.http,
            "DicomPort": self.dicom,
            "DicomAet": "ORTHANC",
            "DicomCheckCalledAet": False,
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False,
            "HttpServerEnabled": True,
            "DicomServerEnabled": True,
            "OrthancExplorerEnabled": False,
            "WebDavEnabled": False,
        }
        path = tmp / "orthanc.json"
        path.write_text(json.dumps(conf))
        self.proc = subprocess.Popen([ORTHANC, str(path)], stdout=self.log,
                                     stderr=subprocess.STDOUT,
                                     cwd=str(tmp))
        deadline = time.monotonic() + 20
        while True:
            try:
                rest(self.http, "/system")
                break
            except OSError:
                if self.proc.poll() is not None or \
                        time.monotonic() > deadline:
                    self.stop()
                    raise AssertionError("Orthanc did not start:\n" +
                                         (tmp / "orthanc.log").read_text())
                time.sleep(0.1)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


@pytest.fixture
def orthanc(tmp_path):
    if not ORTHANC or not STORESCU:
        pytest.skip("needs Debian's orthanc and dcmtk (scripts/install-deps.sh)")
    o = Orthanc(tmp_path)
    try:
        yield o
    finally:
        o.stop()


def test_a_womans_studies_are_told_apart_in_orthanc(deidfs, archive,
                                                    orthanc, tmp_path):
    why = _fuse_usable()
    if why:
        pytest.skip(why)
    # the woman with two studies in one month, and one in another
    keys = set(archive.truth["same_month"][0])
    woman = next(s["woman"] for s in archive.truth["studies"]
                 if s["key"] in keys)
    mnt = tmp_path / "mnt"
    with Mount(deidfs, archive.identified, mnt, tmp_path / "p.db",
               csv=archive.csv) as m:
        # her folder: the pseudonym whose study folders include a _2
        pseudo = next(p for p in sorted(os.listdir(m.mnt))
                      if os.path.isdir(os.path.join(m.mnt, p)) and
                      any(d.endswith("_2")
                          for d in os.listdir(os.path.join(m.mnt, p))))
        folders = sorted(os.listdir(os.path.join(m.mnt, pseudo)))
        files = [os.path.join(dp, f)
                 for dp, _, fns in os.walk(os.path.join(m.mnt, pseudo))
                 for f in sorted(fns) if f.endswith(".dcm")]
        assert len(folders) >= 3 and files, folders
        r = run(STORESCU, "-aec", "ORTHANC", "-aet", "DEIDFS",
                "127.0.0.1", orthanc.dicom, *files, timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr
    assert m.rc == 0
    assert woman is not None
    patients = rest(orthanc.http, "/patients")
    assert len(patients) == 1, patients
    pat = rest(orthanc.http, "/patients/" + patients[0])
    assert pat["MainDicomTags"]["PatientID"] == pseudo
    studies = [rest(orthanc.http, "/studies/" + s) for s in pat["Studies"]]
    tags = [s["MainDicomTags"] for s in studies]
    # one study per folder, each with its own Study ID ...
    assert len(studies) == len(folders), (folders, tags)
    ids = [t.get("StudyID", "") for t in tags]
    assert all(ids) and len(set(ids)) == len(ids), tags
    # ... and a description of its own: the month of its folder and its
    # Study ID (two studies of one month differ by the ID)
    descs = sorted(t.get("StudyDescription", "") for t in tags)
    assert descs == sorted(t.get("StudyDescription", "")[:7] + " " +
                           t.get("StudyID", "") for t in tags), tags
    assert sorted(d[:7] for d in descs) == \
        sorted(f.split("_")[0] for f in folders), (descs, folders)
    assert len(set(descs)) == len(descs) >= 2
    # nothing planted reached Orthanc's record of her
    blob = json.dumps([pat] + studies).encode()
    for s in archive.strings:
        b = s.encode("utf-8", "surrogateescape") if isinstance(s, str) else s
        if len(b) >= 6:
            assert b not in blob, s
