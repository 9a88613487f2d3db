#!/usr/bin/python3
"""
make_bench_trees.py - the two trees issue 13 measures, generated.

    make_bench_trees.py ct2000 OUTDIR   2,000 CT-like files of 0.53 MB (a
                                        512x512 16-bit slice, 241 elements
                                        each), 40 patients of 50 slices
    make_bench_trees.py mg40 OUTDIR     40 mammograms of 27 MB (3328x4096
                                        16-bit), 10 women of 4 views

Writes OUTDIR/identified/<patient ID>/<n>.dcm, deterministically (the same
bytes every run).  Only for benchmarks: the identities are made up, and the
pixels are a cheap pattern, not an image.
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


def pixels(ds, rows, cols, seed):
    ds.Rows = rows
    ds.Columns = cols
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    row = (np.arange(cols, dtype=np.uint16) * 7 + seed) & 0x0FFF
    ds.PixelData = np.tile(row, rows).tobytes()


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


def mg40(out):
    mg = "1.2.840.10008.5.1.4.1.1.1.2"
    views = [("R", "CC"), ("L", "CC"), ("R", "MLO"), ("L", "MLO")]
    n = 0
    for w in range(10):
        for i, (lat, view) in enumerate(views):
            n += 1
            ds = base(mg, uid(4, w, i), w, 1, 1, i + 1)
            ds.Modality = "MG"
            ds.ImageType = ["ORIGINAL", "PRIMARY", ""]
            ds.ImageLaterality = lat
            ds.ViewPosition = view
            ds.PresentationIntentType = "FOR PRESENTATION"
            ds.BurnedInAnnotation = "NO"
            pixels(ds, 4096, 3328, n)
            save(ds, os.path.join(out, "identified", ds.PatientID,
                                  "%d.dcm" % (i + 1)))


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("ct2000", "mg40"):
        sys.exit(__doc__)
    {"ct2000": ct2000, "mg40": mg40}[sys.argv[1]](sys.argv[2])


if __name__ == "__main__":
    main()
