"""
test_install.py - what `make install` puts in place, and the documents that
must say what the binary does: the man page (dist/deidfs.1) and the bash
completion (dist/deidfs.bash-completion) are checked against `--help` of
every command, so neither can drift from the options the binary takes.
"""

import os
import re
import shutil
import subprocess

import pytest

from conftest import run, REPO, Mount, _ismount, _unmount

MAN = REPO / "dist" / "deidfs.1"
COMPLETION = REPO / "dist" / "deidfs.bash-completion"
HELP_FORMS = (("--help",), ("-h",), ("export", "--help"), ("export", "-h"),
              ("mount", "--help"), ("mount", "-h"))

# an option as it stands in text: -x or --long-name, not part of a word
OPTION = re.compile(r"(?<![\w\\-])(--?[A-Za-z][A-Za-z0-9-]*)")


def help_text(deidfs):
    texts = set()
    for args in HELP_FORMS:
        r = run(deidfs, *args)
        assert r.returncode == 0 and r.stderr == "", args
        texts.add(r.stdout)
    assert len(texts) == 1, "the commands' help differ"
    return texts.pop()


def help_options(deidfs):
    return set(OPTION.findall(help_text(deidfs)))


def man_sections():
    """{section name: its roff source, with \\- as -}."""
    src = MAN.read_text(encoding="utf-8").replace("\\-", "-")
    parts = re.split(r"^\.SH +(.*)$", src, flags=re.M)
    return {parts[i].strip('"'): parts[i + 1]
            for i in range(1, len(parts), 2)}


def test_man_page_options_are_the_help_options(deidfs):
    """Every option --help names has an entry in the man page's OPTIONS
    (a .TP or .B line), and the man page's OPTIONS name no option --help
    does not: an option added to one and not the other fails here."""
    opts = help_options(deidfs)
    assert {"--db", "--csv", "-o", "--nonempty", "--version"} <= opts
    section = man_sections()["OPTIONS"]
    entries = set()
    for line in section.splitlines():
        if re.match(r"^\.(B|BI|BR|TP)\b", line):
            entries.update(OPTION.findall(line))
    mentioned = set(OPTION.findall(section))
    assert opts - entries == set(), "in --help, no man page entry"
    assert mentioned - opts == set(), "in the man page, not in --help"


def test_man_page_exit_status_and_sections(deidfs):
    """The man page has the sections a reader looks for, its EXIT STATUS
    lists the codes --help lists, and it renders without a groff
    warning."""
    secs = man_sections()
    for s in ("NAME", "SYNOPSIS", "DESCRIPTION", "COMMANDS", "OPTIONS",
              "EXIT STATUS", "FILES", "EXAMPLES", "SEE ALSO"):
        assert s in secs, s
    m = re.search(r"Exit status: (.*)\.", help_text(deidfs))
    codes = re.findall(r"(\d) ", m.group(1))
    assert codes == ["0", "1", "2", "3"]
    man_codes = re.findall(r"^\.TP\n\.B (\d)$", secs["EXIT STATUS"], re.M)
    assert man_codes == codes
    for cmd in ("export", "mount", "verify", "lookup"):
        assert re.search(r"^\.B %s " % cmd, secs["COMMANDS"], re.M), cmd
    assert "fuse.deidfs" in secs["EXAMPLES"] and "[Mount]" in \
        secs["EXAMPLES"]
    r = run("groff", "-man", "-ww", "-z", MAN)
    assert r.returncode == 0 and r.stderr == "", r.stderr


def test_completion_offers_every_help_option(deidfs, tmp_path):
    """bash completion, run in bash with bash-completion loaded, offers
    exactly the options of --help after `deidfs mount -`, the commands
    after `deidfs `, and the files of the folder after `--db `."""
    lib = "/usr/share/bash-completion/bash_completion"
    if not os.path.exists(lib):
        pytest.fail("bash-completion is not installed "
                    "(scripts/install-deps.sh installs it)")
    (tmp_path / "p.db").write_text("")
    (tmp_path / "src").mkdir()
    script = r"""
source %s
source %s
comp() { COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]}-1));
  COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}; COMPREPLY=(); _deidfs;
  printf '%%s\n' "${COMPREPLY[@]}"; echo ==; }
comp deidfs ""
comp deidfs mount -
comp deidfs export --db p
comp deidfs export s
""" % (lib, COMPLETION)
    r = run("bash", "-c", script, cwd=tmp_path, check=True)
    cmds, opts, db, pos = [set(b.split()) for b in
                           r.stdout.split("==\n")[:4]]
    assert cmds == {"export", "mount", "merge", "verify", "lookup",
                    "--help", "--version"}
    assert opts == help_options(deidfs)
    assert db == {"p.db"}
    assert pos == {"src"}


def make(*args, cwd=REPO):
    return run("make", "--no-print-directory", *args, cwd=cwd)


def build_dir(deidfs):
    """The make BUILD of the binary under test (build/, build/asan...)."""
    return os.path.relpath(os.path.dirname(os.path.abspath(deidfs)),
                           str(REPO))


def test_make_install_and_uninstall_with_prefix_and_destdir(deidfs,
                                                            tmp_path):
    """make install puts the binary, the man page, the completion and the
    mount helper under DESTDIR+PREFIX (the helper under DESTDIR/sbin, where
    mount(8) looks, naming deidfs by its PREFIX path without DESTDIR);
    make uninstall removes exactly those."""
    dest = tmp_path / "stage"
    r = make("install", "BUILD=%s" % build_dir(deidfs), "DESTDIR=%s" % dest,
             "PREFIX=/opt/deid")
    assert r.returncode == 0, r.stderr
    files = sorted(str(p.relative_to(dest)) for p in dest.rglob("*")
                   if p.is_file())
    assert files == ["opt/deid/bin/deidfs",
                     "opt/deid/bin/deidfs-slurm",
                     "opt/deid/share/bash-completion/completions/deidfs",
                     "opt/deid/share/man/man1/deidfs-slurm.1",
                     "opt/deid/share/man/man1/deidfs.1",
                     "opt/deid/share/man/man8/mount.fuse.deidfs.8",
                     "sbin/mount.fuse.deidfs"]
    assert os.access(dest / "opt/deid/bin/deidfs", os.X_OK)
    assert os.access(dest / "opt/deid/bin/deidfs-slurm", os.X_OK)
    assert (dest / "opt/deid/share/man/man1/deidfs.1").read_bytes() == \
        MAN.read_bytes()
    helper = (dest / "sbin/mount.fuse.deidfs").read_text()
    assert 'PATH="/opt/deid/bin:$PATH"' in helper
    assert "@BINDIR@" not in helper
    v = run(dest / "opt/deid/bin/deidfs", "--version")
    assert v.returncode == 0 and v.stdout.startswith("deidfs ")
    r = make("uninstall", "DESTDIR=%s" % dest, "PREFIX=/opt/deid")
    assert r.returncode == 0, r.stderr
    assert [p for p in dest.rglob("*") if not p.is_dir()] == []


SLURM_MAN = REPO / "dist" / "deidfs-slurm.1"
SLURM = REPO / "scripts" / "deidfs-slurm"


def test_installed_slurm_wrapper_runs_the_deidfs_beside_it(deidfs,
                                                           tmp_path):
    """deidfs-slurm installed by make install, run with a PATH that holds
    no deidfs (a stand-in sbatch instead of Slurm): the batch scripts it
    writes run the deidfs installed beside it, and it prints each phase's
    job id."""
    dest = tmp_path / "stage"
    r = make("install", "BUILD=%s" % build_dir(deidfs), "DESTDIR=%s" % dest,
             "PREFIX=/opt/deid")
    assert r.returncode == 0, r.stderr
    bindir = dest / "opt/deid/bin"
    fake = tmp_path / "fakebin"
    fake.mkdir()
    (fake / "sbatch").write_text(
        "#!/bin/sh\nn=$(cat \"$0.n\" 2>/dev/null || echo 100)\n"
        "echo $((n + 1)) > \"$0.n\"\necho $((n + 1))\n")
    (fake / "sbatch").chmod(0o755)
    env = {"PATH": "%s:/usr/bin:/bin" % fake, "HOME": str(tmp_path)}
    env.pop("DEIDFS", None)
    r = subprocess.run([str(bindir / "deidfs-slurm"), str(tmp_path / "run"),
                        "2", "--db", "p.db", "src", "dest"],
                       env=env, cwd=str(tmp_path), capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr
    assert [l.split()[0] for l in r.stdout.splitlines()] == \
        ["index", "merge", "export", "final"]
    for phase in ("index", "merge", "export", "final"):
        text = (tmp_path / "run" / (phase + ".sh")).read_text()
        assert str(bindir / "deidfs") + " " in text, text
    h = subprocess.run([str(bindir / "deidfs-slurm"), "--help"], env=env,
                       capture_output=True, text=True)
    assert h.returncode == 0 and "--retry" in h.stdout


def test_slurm_man_page_is_the_wrappers_usage():
    """deidfs-slurm(1)'s SYNOPSIS and OPTIONS are the script's usage
    lines and options; deidfs(1) shows the installed name."""
    usage = [l[1:].strip() for l in SLURM.read_text().splitlines()[4:6]]
    src = SLURM_MAN.read_text(encoding="utf-8").replace("\\-", "-")
    syn = re.search(r"^\.SH SYNOPSIS\n(.*?)^\.SH", src, re.M | re.S).group(1)
    lines = []
    for form in syn.split(".br\n"):
        words = []
        for l in form.splitlines():
            parts = l.split(" ", 1)
            macro, rest = parts[0], parts[1] if len(parts) > 1 else ""
            # .B/.I words; .RB/.RI alternate, only the brackets matter here
            words.append(rest.replace(" ", "") if macro in (".RB", ".RI")
                         else rest)
        lines.append(" ".join(words))
    assert [l.replace(" ", "") for l in lines] == \
        [u.replace(" ", "") for u in usage]
    # the options its argument loop takes: case patterns "-s)", "-h|--help)"
    loop = SLURM.read_text().split("case $1 in", 1)[1].split("esac", 1)[0]
    opts = {o for pat in re.findall(r"^\t(-[^)\s]*)\)", loop, re.M)
            for o in pat.split("|") if re.fullmatch(r"--?[a-z][a-z-]*", o)}
    man_opts = set(OPTION.findall(
        re.search(r"^\.SH OPTIONS\n(.*?)^\.SH", src, re.M | re.S).group(1)))
    assert opts == man_opts - {"--account", "--time"}
    man = MAN.read_text(encoding="utf-8")
    assert "scripts/deidfs\\-slurm" not in man
    assert "deidfs\\-slurm (1)" in man


def test_installed_mount_helper_mounts_with_deidfs_off_path(deidfs, archive,
                                                            tmp_path):
    """The helper, run as mount(8) runs it (SOURCE MOUNTPOINT -o OPTIONS,
    with a PATH that does not hold deidfs), mounts the view through
    mount.fuse3: the same names as `deidfs mount`."""
    if os.geteuid() != 0:
        pytest.skip("mount.fuse3 mounts as root here")
    prefix = tmp_path / "prefix"
    r = make("install", "BUILD=%s" % build_dir(deidfs), "PREFIX=%s" % prefix,
             "MOUNTHELPERDIR=%s" % (prefix / "sbin"))
    assert r.returncode == 0, r.stderr
    db, mnt = tmp_path / "p.db", tmp_path / "mnt"
    mnt.mkdir()
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    r = run(prefix / "sbin" / "mount.fuse.deidfs", archive.identified, mnt,
            "-o", "ro,db=%s,csv=%s,nofail" % (db, archive.csv), env=env)
    try:
        assert r.returncode == 0, r.stderr
        assert _ismount(str(mnt))
        got = sorted(os.listdir(mnt))
    finally:
        _unmount(mnt)
    mnt2 = tmp_path / "mnt2"
    with Mount(deidfs, archive.identified, mnt2, db, csv=archive.csv,
               opts=["--no-refresh"], logdir=tmp_path):
        assert got == sorted(os.listdir(mnt2)) and len(got) > 1
