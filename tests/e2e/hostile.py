"""
hostile.py - malformed DICOM files and registry CSVs, made byte by byte with
struct (no pydicom: a library that refuses to write broken files cannot make
them).  Used by test_hostile.py.

DICOM
-----
Element model: a dataset is a list of elements, each a tuple
    (tag, vr, value)          value: bytes, or for "SQ" a list of items,
                              each item a list of elements
Tags are ints 0xGGGGEEEE.  Datasets are written in the order given (so
out-of-order and duplicate tags are possible).

encode_ds(elems, explicit=True, undef_seq=True, undef_item=True)
    bytes of a dataset, explicit or implicit VR little endian; sequences
    and items of undefined length (with delimiters) or defined length.
elem(tag, vr, value, explicit=True, length=None)
    one element's bytes; length overrides the length field (lies).
meta(ts, sop_class, sop_inst)
    128-byte preamble, "DICM" and a file meta group with its group length.
base_dataset(marker, n) -> elements of a small, valid MG image whose every
    identifying text holds marker (PatientName, PatientID, names, descriptions,
    a text nested in a sequence); UIDs are uid(n, k).
valid_file(marker, n, ...) -> Layout: bytes plus the offsets of its regions
    (preamble, meta, each top-level element, the sequence, pixel data).
MARKER_PREFIX: every marker starts with it, so one search finds a leak of
    any of them (and of any long enough piece of one).

CSV
---
csv_row(marker, n) / CSV_HEADER: rows of the default 10-column layout with a
marker in every identifying field.
"""

import struct
import zlib

MARKER_PREFIX = "ZQXHOSTILE"
UID_ROOT = "1.2.826.0.1.3680043.9.7433.4242"

UNDEF = 0xFFFFFFFF
ITEM = 0xFFFEE000
ITEM_DELIM = 0xFFFEE00D
SEQ_DELIM = 0xFFFEE0DD
PIXEL = 0x7FE00010

TS_IMPLICIT = "1.2.840.10008.1.2"
TS_EXPLICIT = "1.2.840.10008.1.2.1"
TS_BIG = "1.2.840.10008.1.2.2"
MG_PRESENTATION = "1.2.840.10008.5.1.4.1.1.1.2"

VR32 = {"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR",
        "UT", "UV"}


def marker(n, what=""):
    """A unique marker for file n (upper case letters and digits)."""
    return "%s%05d%s" % (MARKER_PREFIX, n, what)


def uid(n, k):
    return "%s.%d.%d" % (UID_ROOT, 100000 + n, k)    # fixed width


def pad(b, vr):
    if len(b) % 2:
        b += b"\0" if vr in ("UI", "OB", "UN") else b" "
    return b


def s(text, vr="LO"):
    if isinstance(text, str):
        text = text.encode("latin-1")
    return pad(text, vr)


def tag_bytes(tag, be=False):
    f = ">HH" if be else "<HH"
    return struct.pack(f, tag >> 16, tag & 0xFFFF)


def elem(tag, vr, value, explicit=True, length=None, be=False):
    """One element (not SQ) with its header; length overrides the length
    field.  vr may be any two bytes (wrong VR codes)."""
    if length is None:
        length = len(value)
    e = ">" if be else "<"
    out = tag_bytes(tag, be)
    if not explicit:
        return out + struct.pack(e + "I", length) + value
    vrb = vr.encode("latin-1") if isinstance(vr, str) else vr
    if vr in VR32:
        return out + vrb + b"\0\0" + struct.pack(e + "I", length) + value
    return out + vrb + struct.pack(e + "H", length & 0xFFFF) + value


def item_hdr(tag, length):
    return tag_bytes(tag) + struct.pack("<I", length)


def encode_item(item, explicit=True, undef_seq=True, undef_item=True):
    body = encode_ds(item, explicit, undef_seq, undef_item)
    if undef_item:
        return item_hdr(ITEM, UNDEF) + body + item_hdr(ITEM_DELIM, 0)
    return item_hdr(ITEM, len(body)) + body


def encode_seq(tag, items, explicit=True, undef_seq=True, undef_item=True):
    body = b"".join(encode_item(i, explicit, undef_seq, undef_item)
                    for i in items)
    if undef_seq:
        return elem(tag, "SQ", body + item_hdr(SEQ_DELIM, 0), explicit,
                    length=UNDEF)
    return elem(tag, "SQ", body, explicit)


def encode_ds(elems, explicit=True, undef_seq=True, undef_item=True):
    out = []
    for tag, vr, value in elems:
        if vr == "SQ":
            out.append(encode_seq(tag, value, explicit, undef_seq,
                                  undef_item))
        else:
            out.append(elem(tag, vr, value, explicit))
    return b"".join(out)


def meta(ts=TS_EXPLICIT, sop_class=MG_PRESENTATION, sop_inst="1.2.3"):
    body = b"".join([
        elem(0x00020001, "OB", b"\0\1"),
        elem(0x00020002, "UI", s(sop_class, "UI")),
        elem(0x00020003, "UI", s(sop_inst, "UI")),
        elem(0x00020010, "UI", s(ts, "UI")),
        elem(0x00020012, "UI", s("1.2.826.0.1.3680043.9.7433.1", "UI")),
    ])
    return (b"\0" * 128 + b"DICM" +
            elem(0x00020000, "UL", struct.pack("<I", len(body))) + body)


PIXELS = bytes(range(0, 256, 2)) * 1     # 8 x 8 x 16 bit, no letters


def base_dataset(mark, n, pixels=PIXELS, extra=()):
    """A valid little MG image; mark goes into every identifying text."""
    els = [
        (0x00080016, "UI", s(MG_PRESENTATION, "UI")),
        (0x00080018, "UI", s(uid(n, 3), "UI")),
        (0x00080020, "DA", s("20200115", "DA")),
        (0x00080030, "TM", s("101500", "TM")),
        (0x00080060, "CS", s("MG", "CS")),
        (0x00080080, "LO", s(mark + "INST")),
        (0x00080090, "PN", s(mark + "REF^DOCTOR", "PN")),
        (0x00081030, "LO", s(mark + "STUDYDESC")),
        (0x00100010, "PN", s(mark + "^PATIENT", "PN")),
        (0x00100020, "LO", s(mark + "PID")),
        (0x00100030, "DA", s("19600101", "DA")),
        (0x00101000, "LO", s(mark + "OTHERID")),
        (0x00200011, "IS", s("1", "IS")),
        (0x00200013, "IS", s("1", "IS")),
        (0x0020000D, "UI", s(uid(n, 1), "UI")),
        (0x0020000E, "UI", s(uid(n, 2), "UI")),
        (0x00280002, "US", struct.pack("<H", 1)),
        (0x00280004, "CS", s("MONOCHROME2", "CS")),
        (0x00280010, "US", struct.pack("<H", 8)),
        (0x00280011, "US", struct.pack("<H", 8)),
        (0x00280100, "US", struct.pack("<H", 16)),
        (0x00280101, "US", struct.pack("<H", 12)),
        (0x00280102, "US", struct.pack("<H", 11)),
        (0x00280103, "US", struct.pack("<H", 0)),
        # RequestAttributesSequence: identifying text one level down
        (0x00400275, "SQ", [[
            (0x00321060, "LO", s(mark + "REQPROC")),
            (0x00401001, "SH", s(mark, "SH")),
        ]]),
    ]
    els += list(extra)
    els.sort(key=lambda e: e[0])
    els.append((PIXEL, "OW", pixels))
    return els


class Layout:
    """A file's bytes and where its regions are.

    regions: [(name, start, end)] in file order; boundaries: offsets at
    which cutting the file leaves a well-formed (if incomplete) file.
    """

    def __init__(self, data, regions, boundaries):
        self.data = data
        self.regions = regions
        self.boundaries = set(boundaries)

    def region_of(self, off):
        for name, a, b in self.regions:
            if a <= off < b:
                return name
        return "end"


def valid_file(mark, n, ts=TS_EXPLICIT, undef_seq=True, undef_item=True):
    """A valid file with its regions, for truncation at every region."""
    explicit = ts != TS_IMPLICIT
    m = meta(ts, MG_PRESENTATION, uid(n, 3))
    regions = [("preamble", 0, 128), ("magic", 128, 132),
               ("meta", 132, len(m))]
    out = [m]
    pos = len(m)
    boundaries = [len(m)]
    for tag, vr, value in base_dataset(mark, n):
        if vr == "SQ":
            b = encode_seq(tag, value, explicit, undef_seq, undef_item)
            name = "sequence"
        elif tag == PIXEL:
            b = elem(tag, vr, value, explicit)
            hl = len(b) - len(value)
            regions.append(("pixel-header", pos, pos + hl))
            regions.append(("pixel-data", pos + hl, pos + len(b)))
            out.append(b)
            pos += len(b)
            boundaries.append(pos)
            continue
        else:
            b = elem(tag, vr, value, explicit)
            name = "header-element"
        regions.append((name, pos, pos + len(b)))
        out.append(b)
        pos += len(b)
        boundaries.append(pos)
    return Layout(b"".join(out), regions, boundaries)


def file_bytes(mark, n, els=None, ts=TS_EXPLICIT, with_meta=True,
               undef_seq=True, undef_item=True, meta_ts=None):
    """meta + dataset; meta_ts lets the meta lie about the syntax."""
    if els is None:
        els = base_dataset(mark, n)
    explicit = ts != TS_IMPLICIT
    head = meta(meta_ts or ts, MG_PRESENTATION, uid(n, 3)) if with_meta \
        else b""
    return head + encode_ds(els, explicit, undef_seq, undef_item)


def split_pixel(els):
    return [e for e in els if e[0] != PIXEL], [e for e in els
                                               if e[0] == PIXEL]


def nested_seq(depth, mark, explicit=True):
    """Bytes of a public sequence nested depth levels deep (undefined
    lengths, delimited), a marker text at the bottom.  depth 1 = one
    sequence at top level.  Iterative: depth may be in the thousands."""
    open_ = elem(0x00400275, "SQ", b"", explicit, length=UNDEF) + \
        item_hdr(ITEM, UNDEF)
    close = item_hdr(ITEM_DELIM, 0) + item_hdr(SEQ_DELIM, 0)
    return open_ * depth + elem(0x00321060, "LO", s(mark + "DEEP"),
                                explicit) + close * depth


# ------------------------------------------------------------------ CSV

CSV_HEADER = ("personnummer;invitasjon;screeningdato;var4;var5;var6;var7;"
              "var8;var9;diagnosedato")


def csv_row(mark, pid, date="15.01.2020", diag="03.03.2020"):
    """A default-layout row: personal ID pid, markers in every field that
    is not copied through (2 is dropped, 3 a date, 10 a date) and a plain
    value in the clinical columns."""
    return ";".join([pid, mark + "INV", date, "1", "2", "3", "4", "5", "6",
                     diag])


# ------------------------------------------------------ malformed files

class Case:
    """One source file of the hostile tree.

    name    file name (str or bytes) relative to the tree
    data    its bytes
    expect  "publish", "quarantine" or "any" (both are correct; the
            property still holds: no leak, no abort, no hang)
    reasons for "quarantine": the acceptable reasons.csv reasons, or None
    mark    the marker planted in it (None for files with none)
    """

    def __init__(self, name, data, expect, reasons=None, mark=None):
        self.name = name
        self.data = data
        self.expect = expect
        self.reasons = reasons
        self.mark = mark


BAD = ("unparseable", "not-dicom")      # cannot be read with confidence


def _replace_elem(els, tag, new):
    return [new if e[0] == tag else e for e in els]


def truncations(n0, step=7, ts=TS_EXPLICIT, undef=True, tag="cut"):
    """Cuts of a valid file at every step-th byte and at the start, the
    middle and one byte before the end of every region.  A cut on an
    element boundary leaves a well-formed shorter file (any outcome);
    every other cut must be quarantined."""
    lay = valid_file(marker(n0), n0, ts, undef, undef)
    offs = set(range(0, len(lay.data), step))
    for _, a, b in lay.regions:
        offs |= {a + 1, (a + b) // 2, b - 1}
    out = []
    n = n0
    for off in sorted(o for o in offs if 0 <= o < len(lay.data)):
        mark = marker(n)
        # each cut gets its own marker: rebuild with the same layout
        lay_n = valid_file(mark, n, ts, undef, undef)
        assert lay_n.regions == lay.regions
        region = lay.region_of(off)
        expect = "any" if off in lay.boundaries else "quarantine"
        out.append(Case("%s-%s-%05d-%s.dcm" % (tag, region, off, mark),
                        lay_n.data[:off], expect, BAD + ("deid-failed", "patient-id-missing")
                        if expect == "quarantine" else None, mark))
        n += 1
    return out, n


def malformed(n):
    """The hand-made malformed files; n is the first marker number.
    Returns (cases, next n)."""
    cases = []

    def add(name, data, expect, reasons=BAD, mark=None):
        cases.append(Case("%s-%s.dcm" % (name, mark), data, expect,
                          reasons if expect == "quarantine" else None, mark))

    def base(mark, nn, **kw):
        return base_dataset(mark, nn, **kw)

    def body(mark, nn, els, ts=TS_EXPLICIT, **kw):
        return file_bytes(mark, nn, els, ts=ts, **kw)

    def nxt():
        nonlocal n
        n += 1
        return marker(n - 1), n - 1

    # --- lengths past EOF
    m, k = nxt()
    d = body(m, k, base(m, k))
    # PatientName's 16-bit length 0xFFF0: runs past the end
    i = d.index(b"\x10\x00\x10\x00PN")
    d2 = d[:i + 6] + struct.pack("<H", 0xFFF0) + d[i + 8:]
    add("len-past-eof-pn", d2, "quarantine", mark=m)
    m, k = nxt()
    els, px = split_pixel(base(m, k))
    d = body(m, k, els) + elem(PIXEL, "OW", PIXELS, length=1 << 20)
    add("len-past-eof-pixel", d, "quarantine", mark=m)
    m, k = nxt()
    els = base(m, k, extra=[(0x00091010, "OB", b"x" * 16)])
    d = body(m, k, els)
    i = d.index(b"\x09\x00\x10\x10OB")
    d = d[:i + 8] + struct.pack("<I", 0x7FFFFFF0) + d[i + 12:]
    add("len-past-eof-private-ob", d, "quarantine", mark=m)

    # --- huge declared lengths (0xFFFFFFF0) at every kind of length field
    for what in ("ut", "item", "seq", "pixel", "implicit", "meta-group",
                 "meta-ob"):
        m, k = nxt()
        if what == "ut":
            els = base(m, k, extra=[(0x0018003A, "UT", s(m + "UT"))])
            d = body(m, k, els)
            i = d.index(b"\x18\x00\x3a\x00UT")
            d = d[:i + 8] + struct.pack("<I", 0xFFFFFFF0) + d[i + 12:]
        elif what == "item":
            d = body(m, k, base(m, k), undef_item=False)
            i = d.index(struct.pack("<HH", 0xFFFE, 0xE000))
            d = d[:i + 4] + struct.pack("<I", 0xFFFFFFF0) + d[i + 8:]
        elif what == "seq":
            d = body(m, k, base(m, k), undef_seq=False)
            i = d.index(b"\x40\x00\x75\x02SQ")
            d = d[:i + 8] + struct.pack("<I", 0xFFFFFFF0) + d[i + 12:]
        elif what == "pixel":
            els, _ = split_pixel(base(m, k))
            d = body(m, k, els) + elem(PIXEL, "OW", PIXELS,
                                       length=0xFFFFFFF0)
        elif what == "implicit":
            d = body(m, k, base(m, k), ts=TS_IMPLICIT)
            i = d.index(b"\x10\x00\x10\x00", 132)
            d = d[:i + 4] + struct.pack("<I", 0xFFFFFFF0) + d[i + 8:]
        elif what == "meta-group":
            d = body(m, k, base(m, k))
            d = d[:140] + struct.pack("<I", 0xFFFFFFF0) + d[144:]
        else:
            d = body(m, k, base(m, k))
            i = d.index(b"\x02\x00\x01\x00OB")
            d = d[:i + 8] + struct.pack("<I", 0xFFFFFFF0) + d[i + 12:]
        # the meta group length is advisory: readers walk group 0002 by
        # tag (dcmtk does too), so a lying one does no harm
        add("huge-len-" + what, d,
            "any" if what == "meta-group" else "quarantine", mark=m)

    # --- undefined lengths without delimiters
    m, k = nxt()
    els, px = split_pixel(base(m, k))
    d = body(m, k, els)
    # drop both delimiters of the sequence (last 16 bytes before pixels)
    assert d.endswith(item_hdr(ITEM_DELIM, 0) + item_hdr(SEQ_DELIM, 0))
    add("undef-no-delims-eof", d[:-16], "quarantine", mark=m)
    m, k = nxt()
    els, px = split_pixel(base(m, k))
    d = body(m, k, els)[:-16] + encode_ds(px)
    add("undef-no-delims-pixel", d, "quarantine", mark=m)
    m, k = nxt()
    els, px = split_pixel(base(m, k))
    d = body(m, k, els)[:-8] + encode_ds(px)
    add("undef-no-seq-delim", d, "quarantine", mark=m)
    m, k = nxt()
    els, px = split_pixel(base(m, k))
    d = body(m, k, els)
    d = d[:-16] + item_hdr(SEQ_DELIM, 0) + encode_ds(px)
    add("undef-no-item-delim", d, "quarantine", mark=m)
    # encapsulated pixel data without a sequence delimiter / cut fragments
    for what in ("no-delim", "frag-past-eof", "frag-undef"):
        m, k = nxt()
        els, _ = split_pixel(base(m, k))
        frags = item_hdr(ITEM, 0) + item_hdr(ITEM, 8) + b"\xff\xd8" * 4
        if what == "frag-past-eof":
            frags = item_hdr(ITEM, 0) + item_hdr(ITEM, 4096) + b"\0" * 8
        if what == "frag-undef":
            frags = item_hdr(ITEM, UNDEF) + b"\0" * 8
        d = file_bytes(m, k, els, meta_ts="1.2.840.10008.1.2.4.50") + \
            elem(PIXEL, "OB", frags, length=UNDEF)
        add("encaps-" + what, d, "quarantine", mark=m)

    # --- nesting
    for depth in (17, 64, 5000):
        m, k = nxt()
        els, px = split_pixel([e for e in base(m, k)
                               if e[0] != 0x00400275])
        d = body(m, k, els) + nested_seq(depth, m) + encode_ds(px)
        add("deep-%d" % depth, d, "quarantine", mark=m)

    # --- wrong VR codes
    for vr, expect in ((b"  ", "any"), (b"ZZ", "any"), (b"pn", "any"),
                       (b"\0\0", "any"), (b"OB", "any"), (b"US", "any"),
                       (b"SQ", "quarantine"), (b"UN", "any")):
        m, k = nxt()
        d = body(m, k, base(m, k))
        i = d.index(b"\x10\x00\x10\x00PN")
        d = d[:i + 4] + vr + d[i + 6:]
        add("wrong-vr-pn-%s" % vr.hex(), d, expect, mark=m)
    # a free-text attribute outside Table E.1-1 (Intervention Description,
    # ST) under a VR whose values the rules would keep
    for vr in ("OB", "CS", "IS", "US", "UL", "FD", "AT", "DS", "OW", "SS"):
        m, k = nxt()
        val = s(m + "INTERVENTION")
        els = base(m, k, extra=[(0x0018003A, vr, val)])
        add("wrong-vr-text-as-%s" % vr, body(m, k, els), "any", mark=m)
    # a UID attribute outside the table written as binary
    m, k = nxt()
    els = base(m, k, extra=[(0x00081155, "OB", s(uid(k, 9), "UI"))])
    add("wrong-vr-uid-as-ob", body(m, k, els), "any", mark=m)

    # --- UN with undefined length (CP-246: implicit VR LE inside)
    def un_case(name, tag, content, expect):
        m, k = nxt()
        els, px = split_pixel([e for e in base(m, k) if e[0] != 0x00400275])
        un = elem(tag, "UN", content(m), length=UNDEF)
        if tag < 0x00100000:
            # a private tag of group 0009: in tag order before 0010
            i = [e[0] for e in els].index(0x00100010)
            d = body(m, k, els[:i]) + un + encode_ds(els[i:] + px)
        else:
            d = body(m, k, els) + un + encode_ds(px)
        add(name, d, expect, mark=m)

    def un_item(m):
        return encode_item([(0x00321060, "LO", s(m + "UNSEQ"))],
                           explicit=False)

    un_case("un-undef-seq", 0x00400275,
            lambda m: un_item(m) + item_hdr(SEQ_DELIM, 0), "any")
    un_case("un-undef-no-delim", 0x00400275, un_item, "quarantine")
    un_case("un-undef-garbage", 0x00400275, lambda m: s(m + "GARBAGE"),
            "quarantine")
    un_case("un-undef-private", 0x00091010,
            lambda m: un_item(m) + item_hdr(SEQ_DELIM, 0), "any")

    # --- odd lengths
    m, k = nxt()
    els = base(m, k)
    els = _replace_elem(els, 0x00100010, (0x00100010, "PN",
                                          (m + "^ODD").encode()[:15]))
    els = _replace_elem(els, 0x00081030, (0x00081030, "LO",
                                          (m + "STUDYX").encode()))
    add("odd-len-text", body(m, k, els), "any", mark=m)
    m, k = nxt()
    els = base(m, k)
    els = _replace_elem(els, 0x00280010, (0x00280010, "US", b"\x08\x00\x00"))
    add("odd-len-us", body(m, k, els), "any", mark=m)
    m, k = nxt()
    els = base(m, k)
    els = _replace_elem(els, PIXEL, (PIXEL, "OW", PIXELS[:-1]))
    add("odd-len-pixel", body(m, k, els), "any", mark=m)
    m, k = nxt()
    d = body(m, k, base(m, k), undef_item=False, undef_seq=False)
    i = d.index(struct.pack("<HH", 0xFFFE, 0xE000))
    ln = struct.unpack("<I", d[i + 4:i + 8])[0]   # a lie: one more byte
    d = d[:i + 4] + struct.pack("<I", ln + 1) + d[i + 8:]
    add("odd-len-item", d, "quarantine", mark=m)

    # --- duplicate tags and tags out of order
    m, k = nxt()
    m2, _ = nxt()
    els = base(m, k)
    j = [e[0] for e in els].index(0x00100010)
    els.insert(j + 1, (0x00100010, "PN", s(m2 + "^DUP", "PN")))
    j = [e[0] for e in els].index(0x00100020)
    els.insert(j + 1, (0x00100020, "LO", s(m2 + "PID")))
    add("dup-tags", body(m, k, els), "any", mark=m)
    m, k = nxt()
    els = base(m, k)
    seq = [e for e in els if e[0] == 0x00400275][0]
    item = seq[2][0] + [(0x00321060, "LO", s(m + "DUPINNER"))]
    els = _replace_elem(els, 0x00400275, (0x00400275, "SQ", [item]))
    add("dup-tags-in-item", body(m, k, els), "any", mark=m)
    m, k = nxt()
    els = base(m, k)
    pn = [e for e in els if e[0] == 0x00100010][0]
    els = [e for e in els if e[0] != 0x00100010]
    els.insert(len(els) - 1, pn)              # after 0040, before pixels
    els.insert(1, (0x00280010, "US", struct.pack("<H", 8)))   # early dup
    add("out-of-order", body(m, k, els), "any", mark=m)
    m, k = nxt()
    els = base(m, k)
    els.insert(len(els) - 1, (0x7FE10010, "LO", s(m + "AFTER")))
    els.insert(len(els) - 1, (0x00100010, "PN", s(m + "^LATE", "PN")))
    els.append((0x00101000, "LO", s(m + "TRAILER")))   # after pixels
    add("out-of-order-around-pixel", body(m, k, els), "quarantine", mark=m)
    m, k = nxt()
    els, px = split_pixel(base(m, k))
    # Pixel Data first: everything after its value is a trailer
    add("pixel-first", body(m, k, px + els), "quarantine", None, mark=m)

    # --- a meta header that lies about the transfer syntax
    for name, meta_ts, ts, expect in (
            ("explicit-says-implicit", TS_IMPLICIT, TS_EXPLICIT,
             "quarantine"),
            ("implicit-says-explicit", TS_EXPLICIT, TS_IMPLICIT,
             "quarantine"),
            ("le-says-big", TS_BIG, TS_EXPLICIT, "quarantine"),
            ("says-deflate", "1.2.840.10008.1.2.1.99", TS_EXPLICIT,
             "quarantine"),
            ("says-jpeg", "1.2.840.10008.1.2.4.50", TS_EXPLICIT, "any"),
            ("says-private", "1.2.3.4.5", TS_EXPLICIT, "quarantine"),
            ("says-garbage", "NOT-A-UID-" + "X" * 20, TS_EXPLICIT,
             "quarantine")):
        m, k = nxt()
        d = file_bytes(m, k, base(m, k), ts=ts, meta_ts=meta_ts)
        add("meta-lies-" + name, d, expect, mark=m)
    m, k = nxt()
    d = body(m, k, base(m, k))
    d = d[:140] + struct.pack("<I", 4) + d[144:]   # group length too short
    add("meta-group-length-lies", d, "any", mark=m)

    # --- deflated datasets: valid, cut short, not deflate at all
    def deflate(b):
        z = zlib.compressobj(9, zlib.DEFLATED, -15)
        return z.compress(b) + z.flush()

    for name, cut, expect in (("deflated", None, "any"),
                              ("deflated-cut", 40, "quarantine")):
        m, k = nxt()
        d = meta("1.2.840.10008.1.2.1.99", MG_PRESENTATION, uid(k, 3))
        z = deflate(encode_ds(base(m, k)))
        add(name, d + (z[:cut] if cut else z), expect, mark=m)

    # --- tiny and not-DICOM files
    add("empty", b"", "quarantine", mark="empty")
    add("one-byte", b"\0", "quarantine", mark="onebyte")
    add("zeros-131", b"\0" * 131, "quarantine", mark="zeros131")
    add("dicm-only", b"\0" * 128 + b"DICM", "quarantine", mark="dicmonly")
    m, k = nxt()
    add("text", ("Patient: %s\n" % m).encode() * 20, "quarantine", mark=m)
    m, k = nxt()
    add("no-meta-garbage", b"\x08\x00\x05\x00CS" + (m * 50).encode(),
        "quarantine", mark=m)
    return cases, n
