#!/usr/bin/python3
"""
make_bench_trees.py - the two trees issue 13 measures, generated.

    make_bench_trees.py ct2000 OUTDIR   2,000 CT-like files of 0.53 MB (a
                                        512x512 16-bit slice, 241 elements
                                        each), 40 patients of 50 slices
    make_bench_trees.py mg40 OUTDIR     40 mammograms of 27 MB (3328x4096
                                        16-bit), 10 women of 4 views
    make_bench_trees.py mgbreast40 OUTDIR
                                        the same 40 mammograms as images:
                                        a breast of tissue-like texture on
                                        a dark background, the view marker
                                        ("R CC", "L MLO") drawn in the
                                        background, every other one with
                                        a technique line ("28kV 63mAs")

Writes OUTDIR/identified/<patient ID>/<n>.dcm, deterministically (the same
bytes every run).  Only for benchmarks: the identities are made up; mg40's
pixels are a cheap pattern, not an image (issue 13 measures it), and
mgbreast40's a cheap imitation of one (issue 14: what the burned-in text
scan costs on a mammogram's tissue and markers).
"""

import os
import sys

import numpy as np
import pydicom
from pydicom.datadict import DicomDictionary, dictionary_VR
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian

ROOT = "1.2.826.0.1.3680043.10.1013"	# a made-up root for made-up UIDs

# Values for the filler attributes, by VR: valid for the VR, not meaningful.
FILL = {
    "CS": "FILL", "LO": "filler", "SH": "fill", "DS": "1.5", "IS": "7",
    "ST": "filler text", "LT": "filler text", "UT": "filler text",
    "DA": "20200101", "TM": "120000", "US": 1, "SS": -1, "UL": 2, "SL": -2,
    "FL": 0.5, "FD": 0.25,
}


def fillers():
    """Public attributes of the image groups with a simple VR, in tag
    order: the padding that brings a header to a CT's element count."""
    out = []
    for tag in sorted(DicomDictionary):
        vr, vm, _name, retired, kw = DicomDictionary[tag]
        group = tag >> 16
        if retired or not kw or vr not in FILL or vm not in ("1", "1-n"):
            continue
        if group in (0x0018, 0x0020, 0x0028) and tag & 0xFFFF >= 0x1000:
            out.append((tag, vr))
    return out


def uid(*parts):
    return ROOT + "." + ".".join(str(p) for p in parts)


def base(sop_class, sop_uid, patient, study, series, inst):
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = uid(0)
    ds = FileDataset(None, {}, file_meta=meta, preamble=b"\0" * 128)
    ds.is_little_endian = True
    ds.is_implicit_VR = False
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid
    ds.StudyDate = "20190305"
    ds.StudyTime = "101500"
    ds.AccessionNumber = "A%07d" % patient
    ds.ReferringPhysicianName = "Lege^Ola"
    ds.InstitutionName = "Bench Hospital"
    ds.PatientName = "Pasient^Kari^%d" % patient
    ds.PatientID = "%011d" % (1010190000 + patient)
    ds.PatientBirthDate = "19600101"
    ds.PatientSex = "F"
    ds.StudyInstanceUID = uid(1, patient, study)
    ds.SeriesInstanceUID = uid(2, patient, study, series)
    ds.StudyID = "S%d" % study
    ds.SeriesNumber = series
    ds.InstanceNumber = inst
    return ds


def mono12(ds, img):
    """img (rows x cols, values 0-4095) as 12-bit MONOCHROME2 pixels."""
    ds.Rows, ds.Columns = (int(n) for n in img.shape)
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.PixelData = np.ascontiguousarray(img, dtype="<u2").tobytes()


def pixels(ds, rows, cols, seed):
    row = (np.arange(cols, dtype=np.uint16) * 7 + seed) & 0x0FFF
    mono12(ds, np.tile(row, (rows, 1)))


def save(ds, path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    ds.save_as(path, write_like_original=False)


def ct2000(out):
    fill = fillers()
    ct = "1.2.840.10008.5.1.4.1.1.2"
    n = 0
    for p in range(40):
        for i in range(50):
            n += 1
            ds = base(ct, uid(3, p, i), p, 1, 1, i + 1)
            ds.Modality = "CT"
            ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
            ds.SliceThickness = "1.25"
            ds.ImagePositionPatient = ["-250", "-250", str(-1.25 * i)]
            ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
            ds.PixelSpacing = ["0.7", "0.7"]
            ds.RescaleIntercept = "-1024"
            ds.RescaleSlope = "1"
            # fill to 241 elements (file meta not counted), before the
            # pixels are set
            for tag, vr in fill:
                if len(ds) >= 241 - 9:
                    break
                if tag not in ds:
                    ds.add_new(tag, vr, FILL[vr])
            pixels(ds, 512, 512, n)
            assert len(ds) == 241, len(ds)
            save(ds, os.path.join(out, "identified", ds.PatientID,
                                  "%03d.dcm" % (i + 1)))


def mammograms(out, series, paint):
    """10 women of 4 views (R CC, L CC, R MLO, L MLO), "for
    presentation" mammograms whose headers say nothing is burned in;
    paint(ds, n, lat, view) sets the n-th image's pixels."""
    mg = "1.2.840.10008.5.1.4.1.1.1.2"
    views = [("R", "CC"), ("L", "CC"), ("R", "MLO"), ("L", "MLO")]
    n = 0
    for w in range(10):
        for i, (lat, view) in enumerate(views):
            n += 1
            ds = base(mg, uid(series, w, i), w, 1, 1, i + 1)
            ds.Modality = "MG"
            ds.ImageType = ["ORIGINAL", "PRIMARY", ""]
            ds.ImageLaterality = lat
            ds.ViewPosition = view
            ds.PresentationIntentType = "FOR PRESENTATION"
            ds.BurnedInAnnotation = "NO"
            paint(ds, n, lat, view)
            save(ds, os.path.join(out, "identified", ds.PatientID,
                                  "%d.dcm" % (i + 1)))


def mg40(out):
    mammograms(out, 4, lambda ds, n, lat, view: pixels(ds, 4096, 3328, n))


def noise_octaves(rng, rows, cols, cells):
    """Smooth random texture in [0, 1): random fields of cells x cells
    points, each enlarged bilinearly to the image, summed with weights
    halving as they get finer."""
    from PIL import Image
    out = np.zeros((rows, cols), dtype=np.float32)
    weight, total = 1.0, 0.0
    for n in cells:
        low = rng.random((n, max(2, n * cols // rows))).astype(np.float32)
        big = Image.fromarray(low, mode="F").resize((cols, rows),
                                                    Image.BILINEAR)
        out += weight * np.asarray(big, dtype=np.float32)
        total += weight
        weight /= 2
    return out / total


def breast_pixels(ds, rows, cols, seed, lat, view, technique):
    """A mammogram-like 12-bit image: the breast a half ellipse against
    the chest wall (the image's left edge for R, right for L, as
    displayed), brighter where thicker, with a texture of fibroglandular
    tissue; the background dark and noisy; the marker in the background's
    upper corner."""
    from PIL import Image, ImageDraw, ImageFont
    rng = np.random.Generator(np.random.PCG64(seed))
    yy, xx = np.ogrid[0:rows, 0:cols]
    chest = 0 if lat == "R" else cols - 1
    ry = (0.40 if view == "CC" else 0.46) * rows
    cy = rows * (0.5 if view == "CC" else 0.45)
    r2 = ((xx - chest) / (0.66 * cols)) ** 2 + ((yy - cy) / ry) ** 2
    inside = r2 <= 1
    thick = np.sqrt(np.clip(1 - r2, 0, 1)).astype(np.float32)
    tissue = noise_octaves(rng, rows, cols, (6, 16, 48, 160, 480))
    noise = rng.standard_normal((rows, cols), dtype=np.float32)
    body = 900 + 1500 * np.sqrt(thick) * (0.45 + 0.8 * tissue)
    img = np.where(inside, body + 20 * noise, 70 + 10 * noise)
    # the marker, upper corner on the side away from the chest wall
    layer = Image.new("L", (cols, rows), 0)
    d = ImageDraw.Draw(layer)
    fnt = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/"
                             "DejaVuSans-Bold.ttf", 96)
    lines = ["%s %s" % (lat, view)] + (["28kV 63mAs"] if technique else [])
    y = rows // 25
    for text in lines:
        x0, y0, x1, y1 = d.textbbox((0, 0), text, font=fnt)
        x = cols // 25 if lat == "L" else cols - cols // 25 - (x1 - x0)
        d.text((x - x0, y - y0), text, font=fnt, fill=255)
        y += (y1 - y0) + 40
    img[np.asarray(layer) > 127] = 4000
    mono12(ds, np.clip(img, 0, 4095))


def mgbreast40(out):
    mammograms(out, 5, lambda ds, n, lat, view: breast_pixels(
        ds, 4096, 3328, n, lat, view, n % 2 == 0))


TREES = {"ct2000": ct2000, "mg40": mg40, "mgbreast40": mgbreast40}


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in TREES:
        sys.exit(__doc__)
    TREES[sys.argv[1]](sys.argv[2])


if __name__ == "__main__":
    main()
