"""
phi.py - search files, file names and texts for planted PHI strings.

    from phi import find_phi, assert_no_phi

    hits = find_phi(root, archive.strings, extra_texts=[("stderr", r.stderr)])
    assert not hits, hits[:20]

find_phi(root, phi_strings, extra_texts=()) -> [(where, string), ...]

  root         a directory (every file and directory name below it and every
               byte of every regular file are searched; symlinks are not
               followed), a single file, or None (search extra_texts only).
  phi_strings  the strings to look for (str; e.g. archive.strings).
  extra_texts  more things to search: each item is a str/bytes, or a
               (label, str/bytes) pair; str is encoded as UTF-8 with
               surrogateescape, so text captured by conftest.run() gives its
               original bytes back.

  Each string is looked for as UTF-8 and as Latin-1 (when it can be encoded),
  in its own case, upper case and lower case (ASCII letters also match in any
  case), in NFC and NFD forms, and for DICOM person names ("Family^Given")
  also with the '^' replaced by a space, ", " or "_" and in "Given Family"
  order.  A hit is reported once per (place, string) as
  (where, original string); where is "relpath:offset" for file content,
  "relpath (name)" for a file or directory name, or the label of an extra
  text.  Returns [] when nothing is found.

assert_no_phi(root, phi_strings, extra_texts=()) raises AssertionError with a
  short summary of the hits (the summary names the place and the string:
  these are synthetic test strings, never real data).
"""

import os
import unicodedata

CHUNK = 16 << 20            # bytes read at a time from a file
OVERLAP = 4096              # longer than any needle


def _forms(s):
    forms = {s, s.upper(), s.lower()}
    if "^" in s:
        parts = [p for p in s.split("^") if p]
        forms |= {s.replace("^", " "), s.replace("^", ", "),
                  s.replace("^", "_")}
        if len(parts) >= 2:
            forms.add(" ".join(parts[1:] + parts[:1]))
            forms.add(parts[1] + " " + parts[0])
    out = set()
    for f in list(forms):
        for g in (f, f.upper(), f.lower()):
            out.add(unicodedata.normalize("NFC", g))
            out.add(unicodedata.normalize("NFD", g))
    return out


def needles(s):
    """The byte strings (lower-cased in ASCII) that count as s."""
    out = set()
    for f in _forms(s):
        for enc in ("utf-8", "latin-1"):
            try:
                b = f.encode(enc)
            except UnicodeEncodeError:
                continue
            if b:
                out.add(b.lower())
    return sorted(out)


def _as_bytes(x):
    if isinstance(x, bytes):
        return x
    if isinstance(x, bytearray):
        return bytes(x)
    return str(x).encode("utf-8", "surrogateescape")


class _Matcher:
    """
    Each string is searched for as all its needles.  Speed-up: when a
    shorter listed string g occurs inside s (ignoring case), every needle of
    s contains a needle of g, so s is only searched for where g was found.
    Full names, addresses and comments are guarded by their parts this way.
    """

    def __init__(self, phi_strings):
        uniq = sorted(dict.fromkeys(s for s in phi_strings if s),
                      key=lambda s: (len(s), s))
        folded = [s.casefold() for s in uniq]
        self.table = []
        for i, s in enumerate(uniq):
            guard = None
            for j in range(i):
                if folded[j] != folded[i] and folded[j] in folded[i] and \
                        s.upper().find(uniq[j].upper()) >= 0:
                    guard = uniq[j]
                    break
            self.table.append((s, needles(s), guard))
        if any(len(n) >= OVERLAP for _, ns, _ in self.table for n in ns):
            raise ValueError("PHI string too long for the overlap window")
        order = {s: k for k, s in enumerate(dict.fromkeys(phi_strings))}
        self.order = order

    def search(self, data):
        """[(offset, string)] for each string found in data (lowered)."""
        found = {}
        for s, ns, guard in self.table:
            if guard is not None and guard not in found:
                continue
            best = -1
            for n in ns:
                i = data.find(n)
                if i >= 0 and (best < 0 or i < best):
                    best = i
            if best >= 0:
                found[s] = best
        return sorted(((off, s) for s, off in found.items()),
                      key=lambda t: (t[0], self.order[t[1]]))


def _search_file(m, path):
    hits = {}
    with open(path, "rb") as f:
        base = 0
        tail = b""
        while True:
            chunk = f.read(CHUNK)
            if not chunk:
                break
            data = (tail + chunk).lower()
            for off, s in m.search(data):
                if s not in hits:
                    hits[s] = base - len(tail) + off
            tail = chunk[-OVERLAP:]
            base += len(chunk)
    return sorted(((off, s) for s, off in hits.items()),
                  key=lambda t: t[0])


def find_phi(root, phi_strings, extra_texts=()):
    m = _Matcher(phi_strings)
    hits = []
    for i, item in enumerate(extra_texts):
        if isinstance(item, tuple):
            label, text = item
        else:
            label, text = "extra[%d]" % i, item
        for _, s in m.search(_as_bytes(text).lower()):
            hits.append((str(label), s))
    if root is None:
        return hits
    broot = os.fsencode(root)
    if os.path.isfile(broot):
        for off, s in _search_file(m, broot):
            hits.append(("%s:%d" % (os.fsdecode(broot), off), s))
        return hits
    for dirpath, dirnames, filenames in os.walk(broot):
        dirnames.sort()
        for name in sorted(dirnames) + sorted(filenames):
            full = os.path.join(dirpath, name)
            rel = os.fsdecode(os.path.relpath(full, broot))
            for _, s in m.search(name.lower()):
                hits.append(("%s (name)" % rel, s))
            if name in filenames:
                if os.path.islink(full) or not os.path.isfile(full):
                    continue
                for off, s in _search_file(m, full):
                    hits.append(("%s:%d" % (rel, off), s))
    return hits


def assert_no_phi(root, phi_strings, extra_texts=(), limit=20):
    hits = find_phi(root, phi_strings, extra_texts)
    if hits:
        lines = ["%s: %r" % h for h in hits[:limit]]
        more = len(hits) - limit
        if more > 0:
            lines.append("... and %d more" % more)
        raise AssertionError("PHI found in %d place(s):\n%s"
                             % (len(hits), "\n".join(lines)))
