"""
burnin.py - a generated set of images with text burned into their pixels
(issue 14), for test_burnin.py and scripts/bench_scan.sh.

make_set(outdir) writes, for each transfer syntax of TRANSFER_SYNTAXES,
16-bit mammograms (MG, 12 bits stored, a breast on a dark background) and
8-bit RGB secondary captures (OT, a screen of flat colours and shapes):

  ident     identifying text in a corner: a Norwegian name with Æ/Ø/Å, a
            personal ID (11 digits, valid check digits) or a date; four
            fonts of DejaVu, cap heights from 14 px, all four corners,
            light on dark and dark on light (a label);
  harmless  only view/laterality markers and technique values (L CC,
            R MLO, 28kV 63mAs, Mo/Rh);
  clean     no text at all;

plus a multi-frame OT whose text is on its last frame only, and returns
one record per file: {"path", "expect" ("quarantine" or "publish"),
"kind" ("name", "personal-id", "date", None), "ts", "modality", "text",
"corner" (of the text: "tl", "tr", "bl", "br"), "frame" (with the text)}.
The header holds the same name, ID and birth date for half of the
identifying images (so the kind of match can be told) and something else
for the others; BurnedInAnnotation is "NO" or absent: the header never
says.

Compression is done by the tools the tests already need (gdcmconv from
libgdcm-tools, dcmcjpeg/dcmconv from dcmtk).  Deterministic: the same
seed gives the same files.
"""

import os
import random
import subprocess
import sys

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian
from PIL import Image, ImageDraw, ImageFont

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "scripts"))
from make_archive import personal_id  # noqa: E402

TESSDATA = "/usr/share/tesseract-ocr/5/tessdata"
# why the scan's tests skip, when they do
NO_TESSERACT = ("no Tesseract eng/nor data (scripts/install-deps.sh "
                "installs it)")


def have_tesseract():
    """Whether the scan can run here: Tesseract's English and Norwegian
    data installed."""
    return all(os.path.exists(os.path.join(TESSDATA, l + ".traineddata"))
               for l in ("eng", "nor"))

FONT_DIR = "/usr/share/fonts/truetype/dejavu"
FONTS = ["DejaVuSans.ttf", "DejaVuSerif.ttf", "DejaVuSansMono.ttf",
         "DejaVuSans-Bold.ttf"]
CAP_HEIGHTS = [14, 18, 24, 32]
CORNERS = ["tl", "tr", "bl", "br"]

MG_CLASS = "1.2.840.10008.5.1.4.1.1.1.2"
SC_CLASS = "1.2.840.10008.5.1.4.1.1.7"

# name: (how it is made, which images it fits)
TRANSFER_SYNTAXES = [
    "explicit", "deflated", "rle", "jpeg-lossless", "jpeg-lossy",
    "jpeg-ls", "j2k",
]

NAMES = [("Østby", "Kari Åse"), ("Ærlig", "Bjørg"), ("Håland", "Solveig"),
         ("Sæther", "Ingrid Marie"), ("Løkke", "Åshild"),
         ("Brænne", "Tone")]
HARMLESS = ["L CC", "R MLO", "LMLO", "RCC", "28kV 63mAs", "Mo/Rh 29 kV",
            "L MLO 120 N", "R CC 45 mm"]


def fnr(rng, day, month, year):
    """An 11-digit personal ID with valid mod-11 check digits
    (scripts/make_archive.py's maker)."""
    return personal_id(rng, day, month, year)


def font(name, cap):
    """DejaVu at the size whose capital letters are cap px tall."""
    f = ImageFont.truetype(os.path.join(FONT_DIR, name), cap)
    # measure: the cap height of 'H' at this size, then scale
    h = f.getbbox("H")[3] - f.getbbox("H")[1]
    return ImageFont.truetype(os.path.join(FONT_DIR, name),
                              max(6, round(cap * cap / max(h, 1))))


def text_layer(rows, cols, text, fnt, corner, label):
    """(mask of the text, box of the label or None): the text placed in a
    corner, 4 % of the image from its edges."""
    img = Image.new("L", (cols, rows), 0)
    d = ImageDraw.Draw(img)
    x0, y0, x1, y1 = d.textbbox((0, 0), text, font=fnt)
    w, h = x1 - x0, y1 - y0
    mx, my = max(8, cols // 25), max(8, rows // 25)
    x = mx if corner[1] == "l" else cols - mx - w
    y = my if corner[0] == "t" else rows - my - h
    d.text((x - x0, y - y0), text, font=fnt, fill=255)
    box = None
    if label:
        pad = max(4, h // 3)
        box = (max(0, x - pad), max(0, y - pad), min(cols, x + w + pad),
               min(rows, y + h + pad))
    return np.asarray(img) > 127, box


def mammogram(rng, rows, cols, side):
    """A 12-bit breast: a half ellipse of smooth texture on the chest-wall
    side, dark noisy background."""
    yy, xx = np.mgrid[0:rows, 0:cols]
    cx = 0 if side == "l" else cols - 1
    inside = ((xx - cx) / (0.62 * cols)) ** 2 + \
        ((yy - rows / 2) / (0.36 * rows)) ** 2 <= 1
    low = rng.random((rows // 32 + 2, cols // 32 + 2))
    tex = np.kron(low, np.ones((32, 32)))[:rows, :cols]
    img = rng.normal(60, 12, (rows, cols))
    img = np.where(inside, 1300 + 1000 * tex + rng.normal(0, 25,
                                                          (rows, cols)),
                   img)
    return np.clip(img, 0, 4095)


def screen(rng, rows, cols, dark):
    """An RGB screen capture: a flat background, a plot area with a
    gradient, a disc."""
    bg = (18, 24, 48) if dark else (226, 226, 222)
    img = np.zeros((rows, cols, 3), dtype=np.float64)
    img[:, :] = bg
    y0, y1, x0, x1 = rows // 5, rows * 4 // 5, cols // 5, cols * 4 // 5
    grad = np.linspace(60, 190, x1 - x0)[None, :, None]
    img[y0:y1, x0:x1] = grad * np.array([0.6, 0.8, 1.0])
    yy, xx = np.mgrid[0:rows, 0:cols]
    disc = (yy - rows / 2) ** 2 + (xx - cols / 2) ** 2 <= (rows / 6) ** 2
    img[disc] = (200, 120, 60)
    img += rng.normal(0, 2, img.shape)
    return np.clip(img, 0, 255)


def base_ds(sop_class, modality, pid, name, birth, study_date, uid_root, n):
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.file_meta.MediaStorageSOPInstanceUID = "%s.3.%d" % (uid_root, n)
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = "%s.1.%d" % (uid_root, n)
    ds.SeriesInstanceUID = "%s.2.%d" % (uid_root, n)
    ds.Modality = modality
    ds.PatientID = pid
    ds.PatientName = name
    ds.PatientBirthDate = birth
    ds.PatientSex = "F"
    ds.StudyDate = study_date
    ds.StudyTime = "101010"
    ds.SeriesNumber = 1
    ds.InstanceNumber = n
    ds.StudyID = "1"
    ds.AccessionNumber = ""
    ds.ReferringPhysicianName = ""
    ds.Manufacturer = "deidfs test"
    if n % 2:
        ds.BurnedInAnnotation = "NO"    # a false one
    return ds


def finish_mg(ds, img):
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = img.shape
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.ImageType = ["DERIVED", "PRIMARY"]
    ds.PresentationIntentType = "FOR PRESENTATION"
    ds.ImageLaterality = "L"
    ds.ViewPosition = "CC"
    ds.PixelData = np.ascontiguousarray(img, dtype="<u2").tobytes()
    ds["PixelData"].VR = "OW"


def finish_ot(ds, frames):
    ds.SamplesPerPixel = 3
    ds.PhotometricInterpretation = "RGB"
    ds.PlanarConfiguration = 0
    ds.Rows, ds.Columns = frames[0].shape[:2]
    ds.BitsAllocated = 8
    ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    ds.ConversionType = "WSD"
    if len(frames) > 1:
        ds.NumberOfFrames = len(frames)
    ds.PixelData = b"".join(np.ascontiguousarray(f, dtype=np.uint8)
                            .tobytes() for f in frames)
    ds["PixelData"].VR = "OB"


def compress(src, dst, ts, ot):
    """src (explicit VR little endian) into dst in transfer syntax ts."""
    if ts == "explicit":
        os.replace(src, dst)
        return
    if ts == "deflated":
        cmd = ["dcmconv", "+td", src, dst]
    elif ts == "rle":
        cmd = ["gdcmconv", "--rle", src, dst]
    elif ts == "jpeg-lossless":
        cmd = ["dcmcjpeg", "+e1", src, dst]
    elif ts == "jpeg-lossy":
        # baseline for 8 bits, extended sequential for 12
        cmd = ["dcmcjpeg", "+eb" if ot else "+ee", "+q", "92", src, dst]
    elif ts == "jpeg-ls":
        cmd = ["gdcmconv", "--jpegls", src, dst]
    elif ts == "j2k":
        cmd = ["gdcmconv", "--j2k", src, dst]
    else:
        raise ValueError(ts)
    subprocess.run(cmd, check=True, capture_output=True)
    os.unlink(src)


class Maker:
    def __init__(self, outdir, seed, mg_size, ot_size):
        self.out = outdir
        self.rng = random.Random(seed)
        self.nrng = np.random.Generator(np.random.PCG64(seed))
        self.mg_size = mg_size
        self.ot_size = ot_size
        self.n = 0
        self.records = []
        self.variant = 0

    def identity(self):
        last, first = NAMES[self.n % len(NAMES)]
        day, month, year = 1 + self.n % 27, 1 + self.n % 12, 1950 + self.n
        return {"pid": fnr(self.rng, day, month, year),
                "name": "%s^%s" % (last, first),
                "spoken": "%s, %s" % (last.upper(), first),
                "birth": "%04d%02d%02d" % (year, month, day),
                "birth_text": "%02d.%02d.%04d" % (day, month, year)}

    def next_variant(self):
        """Font, cap height, corner, polarity and kind cycle with
        different periods, so that every pairing occurs."""
        v = self.variant
        self.variant += 1
        return (FONTS[v % 4], CAP_HEIGHTS[(v // 4 + v) % 4],
                CORNERS[(v // 2 + v // 8) % 4], bool(v % 2),
                ["name", "personal-id", "date"][v % 3])

    def write(self, ds, ts, expect, kind, text, modality, corner=None,
              frame=0):
        self.n += 1
        name = "%03d_%s_%s_%s.dcm" % (self.n, modality.lower(), ts,
                                      expect[0])
        tmp = os.path.join(self.out, name + ".tmp")
        path = os.path.join(self.out, name)
        ds.save_as(tmp, write_like_original=False)
        compress(tmp, path, ts, modality == "OT")
        self.records.append({"path": path, "expect": expect, "kind": kind,
                             "ts": ts, "modality": modality, "text": text,
                             "corner": corner, "frame": frame})

    def one(self, modality, ts, what):
        ident = self.identity()
        match = self.n % 2 == 0     # the header holds what the pixels do
        header = ident if match else self.identity()
        ds = base_ds(MG_CLASS if modality == "MG" else SC_CLASS, modality,
                     header["pid"], header["name"], header["birth"],
                     "20240601", "2.25.%d" % (1000 + self.n), self.n + 1)
        fnt_name, cap, corner, label, kind = self.next_variant()
        if what == "ident":
            text = {"name": ident["spoken"], "personal-id": ident["pid"],
                    "date": ident["birth_text"]}[kind]
        elif what == "harmless":
            text = HARMLESS[self.n % len(HARMLESS)]
            kind = None
        else:
            text, kind = None, None
        side = "l" if corner[1] == "r" else "r"
        if modality == "MG":
            rows, cols = self.mg_size
            img = mammogram(self.nrng, rows, cols, side)
            if text:
                mask, box = text_layer(rows, cols, text,
                                       font(fnt_name, cap), corner, label)
                if box:
                    img[box[1]:box[3], box[0]:box[2]] = 3800
                    img[mask] = 150
                else:
                    img[mask] = 4095
            finish_mg(ds, img)
        else:
            rows, cols = self.ot_size
            dark = not label
            img = screen(self.nrng, rows, cols, dark)
            if text:
                mask, _ = text_layer(rows, cols, text, font(fnt_name, cap),
                                     corner, False)
                img[mask] = (250, 250, 250) if dark else (10, 10, 10)
            finish_ot(ds, [img])
        self.write(ds, ts, "quarantine" if what == "ident" else "publish",
                   kind, text, modality, corner if text else None)

    def multiframe(self, ts):
        ident = self.identity()
        ds = base_ds(SC_CLASS, "OT", ident["pid"], ident["name"],
                     ident["birth"], "20240601",
                     "2.25.%d" % (1000 + self.n), self.n + 1)
        rows, cols = self.ot_size
        frames = [screen(self.nrng, rows, cols, True) for _ in range(3)]
        mask, _ = text_layer(rows, cols, ident["spoken"],
                             font(FONTS[0], 20), "br", False)
        frames[2][mask] = (250, 250, 250)
        finish_ot(ds, frames)
        self.write(ds, ts, "quarantine", "name", ident["spoken"], "OT",
                   "br", 2)


def make_set(outdir, seed=14, mg_size=(1024, 832), ot_size=(480, 640),
             per_ts=2, transfer_syntaxes=TRANSFER_SYNTAXES):
    """Write the set into outdir; returns its records (see above).
    per_ts identifying images of each modality in each transfer syntax,
    and one harmless and one clean of each."""
    os.makedirs(outdir, exist_ok=True)
    m = Maker(outdir, seed, mg_size, ot_size)
    for ts in transfer_syntaxes:
        for modality in ("MG", "OT"):
            for _ in range(per_ts):
                m.one(modality, ts, "ident")
            m.one(modality, ts, "harmless")
            m.one(modality, ts, "clean")
    for ts in ("explicit", "rle"):
        if ts in transfer_syntaxes:
            m.multiframe(ts)
    return m.records


if __name__ == "__main__":
    import json
    import sys
    out = sys.argv[1]
    kw = {}
    if len(sys.argv) > 2 and sys.argv[2] == "--mammo-size":
        kw["mg_size"] = (4096, 3328)
    recs = make_set(out, **kw)
    json.dump(recs, open(os.path.join(out, "..", "burnin.json"), "w"),
              indent=1)
    print(len(recs), "files")
