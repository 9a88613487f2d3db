#!/usr/bin/python3
"""
make_archive.py - build a synthetic IDENTIFIED breast-screening archive.

    make_archive.py OUTDIR [--women N] [--seed S] [--rows R --cols C] [--big]
                    [--phi-out FILE]

Writes, deterministically for a given seed (same arguments, same bytes):

  OUTDIR/identified/...   DICOM files in a messy hospital-export layout whose
                          folder and file names contain names and personal IDs
                          (UTF-8 and Latin-1 encoded names, spaces, a deep
                          nested folder, a DICOMDIR, non-DICOM and broken
                          files, quarantine cases)
  OUTDIR/variables.csv    the registry CSV (Kreftregisteret style: ';'
                          separated, header line, UTF-8)

With --phi-out FILE a JSON file is written (see write_phi_json() below):

  strings     every planted PHI string that must never appear in any byte or
              file name of a de-identified output made with the default
              (Basic Profile) options: personal IDs, names and name parts,
              birth dates (YYYYMMDD), addresses, phone numbers, comments,
              institution/device identifiers, private tag text, original UIDs.
  ids, names, uids
              the subsets of strings that are identifiers, person names and
              original instance UIDs.
  dates, times
              study/series/diagnosis dates (YYYYMMDD, YYYY-MM-DD, dd.mm.yyyy)
              and times (HHMMSS).  NOT in strings: they are shorter, may
              legitimately reappear shifted, and are only forbidden when
              dates are not retained; tests add them when they mean to.
  categories  {category: [strings]} so that a test run with a retain option
              can leave out what that option keeps (e.g. "uid" for
              --retain-uids, "device" for retain-device-identity,
              "institution" for retain-institution-identity).
  where       {string: [up to 5 places where it was planted]}, to tell which
              attribute leaked when a test finds one.
  truth       what the archive contains and what a correct de-identifier
              must do with each file, study and CSV row (see build_truth()).

Only the stdlib, numpy and pydicom 2.3 (Debian's python3-pydicom) are used.
Nothing identifying is printed; stdout gets a one-line summary.
"""

import argparse
import datetime
import json
import os
import random
import shutil
import sys
import tempfile
import unicodedata
import warnings

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import (ExplicitVRLittleEndian, ImplicitVRLittleEndian,
                         generate_uid)

MG_PRESENTATION = "1.2.840.10008.5.1.4.1.1.1.2"
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"
UID_ROOT = "1.2.826.0.1.3680043.8.498."      # pydicom's root, as many tools
IMPL_CLASS_UID = "1.2.826.0.1.3680043.8.498.1"
IMPL_VERSION = "PACSEXP_3_2"
PRIVATE_CREATOR = "NORMAMMO PRIVATE 1.0"
FIXED_MTIME = 1577836800                     # 2020-01-01: stable trees

LATIN1 = "ISO_IR 100"
UTF8 = "ISO_IR 192"

# The women.  Every name part has >= 6 characters so that a grep for it is
# meaningful; most carry a non-ASCII letter so both encodings get exercised.
WOMEN = [
    ("Nordmann", "Karianne", None),
    ("Bjørnstad", "Åshild", "Margrethe"),
    ("Ødegård", "Synnøve", None),
    ("Lefèvre", "Hélène", None),
    ("Fjærestad", "Ingeborg", "Solveig"),
    ("Strømsholm", "Ragnhild", None),
    ("Håkonsen", "Gunnhild", None),
    ("Rønneberg", "Désirée", None),
    ("Sæterdal", "Torunn", None),
    ("Løvåsen", "Bjørghild", None),
    ("Brekkeflåt", "Åslaug", None),
    ("Gjærdevik", "Signhild", None),
]
STAFF_GIVEN = ["Torbjørn", "Henrik", "Kristian", "Sigurd", "Ingrid",
               "Vibeke", "Johanne", "Eivind", "Mathilde", "Gudrun",
               "Øystein", "Amalie", "Dagfinn", "Halvard", "Reidun"]
# Building blocks of unique compound tokens (staff surnames, street names,
# free-text markers).  None of them is a word that a de-identified file may
# legitimately contain.
TOKEN_HEAD = ["Bjør", "Kval", "Sol", "Fjell", "Haug", "Lier", "Strand",
              "Berg", "Dal", "Vik", "Nes", "Hol", "Rød", "Tveit", "Ås",
              "Eng", "Skog", "Lund", "Bakk", "Fjær", "Gran", "Hov", "Myr",
              "Stav", "Øy", "Sand", "Flat", "Kleiv", "Ravn", "Ulv"]
TOKEN_TAIL = ["heim", "stad", "rud", "vik", "seth", "åsen", "dal", "nes",
              "bø", "land", "gård", "hus", "moen", "lie", "bekk", "tun",
              "eid", "vold", "haug", "brekke"]
# Compounds that are ordinary words, which an output could contain by chance.
REAL_WORDS = {"England", "Holland", "Bergen", "Sandnes", "Sandvik",
              "Strandhus"}
DENSITY = ["a", "b", "c", "d"]
FINDINGS = ["ingen funn", "tett kjertelvev", "forkalkninger høyre bryst",
            "asymmetri venstre", "arrdannelse etter tidligere biopsi",
            "cyste høyre, benign"]
SIDES = ["", "høyre", "venstre", "bilateral"]
VIEWS = [  # (laterality, view position, SNOMED CT code, code meaning)
    ("L", "CC", "399162004", "cranio-caudal"),
    ("L", "MLO", "399368009", "medio-lateral oblique"),
    ("R", "CC", "399162004", "cranio-caudal"),
    ("R", "MLO", "399368009", "medio-lateral oblique"),
]


def ascii_fold(s):
    table = {"ø": "o", "Ø": "O", "æ": "ae", "Æ": "AE", "å": "a", "Å": "A"}
    s = "".join(table.get(c, c) for c in s)
    s = unicodedata.normalize("NFKD", s)
    return "".join(c for c in s if ord(c) < 128)



def personal_id(rng, day, month, year, female=False):
    """A Norwegian-style 11-digit personal ID (fødselsnummer) of someone
    born on day.month.year: DDMMYY, three individual digits from rng
    (even for a woman when female), two mod-11 check digits that hold.
    The one maker of the tests' and generators' IDs (tests/e2e/burnin.py
    uses it too)."""
    while True:
        ind = rng.randrange(0, 500)
        if female and ind % 2:
            continue
        d = "%02d%02d%02d%03d" % (day, month, year % 100, ind)
        k1 = 11 - sum(int(a) * b for a, b in
                      zip(d, [3, 7, 6, 1, 8, 9, 4, 5, 2])) % 11
        k1 = 0 if k1 == 11 else k1
        if k1 == 10:
            continue
        d += str(k1)
        k2 = 11 - sum(int(a) * b for a, b in
                      zip(d, [5, 4, 3, 2, 7, 6, 5, 4, 3, 2])) % 11
        k2 = 0 if k2 == 11 else k2
        if k2 == 10:
            continue
        return d + str(k2)

class Phi:
    """The planted-string registry: every string by category and place."""

    NOT_STRINGS = ("date", "time")      # kept out of "strings", see above
    IDS = ("patient-id", "other-id", "accession", "study-id", "request-id",
           "invitation-id", "phone")
    NAMES = ("patient-name", "name-part", "staff-name")

    def __init__(self):
        self.cats = {}
        self.where = {}

    def add(self, s, cat, where):
        if not s:
            raise ValueError("empty planted string")
        if cat not in self.NOT_STRINGS and len(s) < 6:
            raise ValueError("planted string too short to grep for")
        lst = self.cats.setdefault(cat, [])
        if s not in lst:
            lst.append(s)
        w = self.where.setdefault(s, [])
        if len(w) < 5 and where not in w:
            w.append(where)
        return s

    def name(self, pn, cat, where):
        """Register a person name (DICOM form) and its parts."""
        self.add(pn, cat, where)
        for part in pn.split("^"):
            if len(part) >= 6:
                self.add(part, "name-part", where)
        return pn

    def date(self, d, where):
        """Register a date in the three spellings it may take."""
        self.add(d.strftime("%Y%m%d"), "date", where)
        self.add(d.strftime("%Y-%m-%d"), "date", where)
        self.add(d.strftime("%d.%m.%Y"), "date", where)
        return d.strftime("%Y%m%d")

    def collect(self, cats=None, exclude=()):
        out = []
        for c, lst in self.cats.items():
            if c in exclude or (cats is not None and c not in cats):
                continue
            for s in lst:
                if s not in out:
                    out.append(s)
        return out


class Gen:
    def __init__(self, args):
        self.args = args
        self.rng = random.Random(args.seed)
        self.phi = Phi()
        self.uid_n = 0
        self.img_n = 0
        self.tokens_used = set()
        self.token_pool = [h + t for h in TOKEN_HEAD for t in TOKEN_TAIL
                           if len(h + t) >= 6 and h + t not in REAL_WORDS]
        self.rng.shuffle(self.token_pool)
        self.files = []
        self.studies = []
        self.csv_rows = []
        self.out = args.outdir
        self.ident = os.path.join(self.out, "identified")

    # --- unique values -------------------------------------------------

    def uid(self, what):
        self.uid_n += 1
        u = str(generate_uid(UID_ROOT, ["deidfs-test", str(self.args.seed),
                                        what, str(self.uid_n)]))
        return self.phi.add(u, "uid", what)

    def token(self):
        """A unique compound word, e.g. "Kvalheim"."""
        while self.token_pool:
            t = self.token_pool.pop()
            if all(t not in u and u not in t for u in self.tokens_used):
                self.tokens_used.add(t)
                return t
        # Pool exhausted (very large --women): still unique, less pretty.
        t = "%s%s%d" % (self.rng.choice(TOKEN_HEAD),
                        self.rng.choice(TOKEN_TAIL), len(self.tokens_used))
        self.tokens_used.add(t)
        return t

    def digits(self, n):
        return "".join(self.rng.choice("0123456789") for _ in range(n))

    def ident_id(self, prefix, n, cat, where):
        return self.phi.add(prefix + self.digits(n), cat, where)

    def staff(self, where):
        pn = "%s^%s" % (self.token(), self.rng.choice(STAFF_GIVEN))
        return self.phi.name(pn, "staff-name", where)

    def marker_text(self, template, cat, where):
        """Free text containing a unique token; both are registered."""
        tok = self.token()
        self.phi.add(tok, cat, where)
        return self.phi.add(template % tok, cat, where)

    # --- people and studies --------------------------------------------

    def fnr(self, bd):
        """Norwegian-style 11-digit ID of a woman born on bd."""
        return personal_id(self.rng, bd.day, bd.month, bd.year,
                           female=True)

    def make_women(self):
        n = self.args.women
        years = list(range(1944, 1976))
        self.rng.shuffle(years)
        women = []
        fnrs = set()
        for i in range(n):
            if i < len(WOMEN):
                sur, given, middle = WOMEN[i]
            else:
                sur, given, middle = (self.token() + "sen",
                                      self.rng.choice(WOMEN)[1], None)
            year = years[i % len(years)]
            bd = datetime.date(year, self.rng.randint(1, 12),
                               self.rng.randint(1, 28))
            fnr = self.fnr(bd)
            while fnr in fnrs:
                fnr = self.fnr(bd)
            fnrs.add(fnr)
            w = {"index": i, "surname": sur, "given": given,
                 "middle": middle, "birth": bd, "fnr": fnr}
            where = "woman %d" % i
            pn = "%s^%s" % (sur, given) + ("^" + middle if middle else "")
            w["pn"] = self.phi.name(pn, "patient-name", where + " PatientName")
            self.phi.add(fnr, "patient-id", where + " PatientID")
            self.phi.add(bd.strftime("%Y%m%d"), "birth-date",
                         where + " PatientBirthDate")
            # Roles 1 and 3 use Latin-1, the others UTF-8 (both on disk).
            w["charset"] = LATIN1 if i in (1, 3) or (i > 5 and i % 2) \
                else UTF8
            w["other_id"] = self.ident_id("HUS", 7, "other-id",
                                          where + " OtherPatientIDs")
            w["other_id2"] = self.ident_id("NPR", 8, "other-id",
                                           where + " OtherPatientIDsSequence")
            street = self.token() + "vegen"
            self.phi.add(street, "address", where + " PatientAddress")
            w["address"] = self.phi.add(
                "%s %d, %04d Trondheim" % (street, self.rng.randint(1, 99),
                                           self.rng.randint(7010, 7099)),
                "address", where + " PatientAddress")
            # Only the full number: a bare 8-digit string could turn up by
            # chance inside a new random UID of an output.
            tel = "9" + self.digits(7)
            w["phone"] = self.phi.add("+47 " + tel, "phone",
                                      where + " PatientTelephoneNumbers")
            w["mother"] = self.phi.name(
                "%s^%s" % (self.token(), self.rng.choice(STAFF_GIVEN)),
                "staff-name", where + " PatientMotherBirthName")
            w["comments"] = self.marker_text(
                "Ønsker svar til fastlege %s", "comment",
                where + " PatientComments")
            w["history"] = self.marker_text(
                "Mor (f. %s) hadde brystkreft", "comment",
                where + " AdditionalPatientHistory")
            w["studies"] = []
            women.append(w)
        return women

    def study_dates(self, w, count, same_month):
        y = self.rng.randint(2012, 2016)
        m = self.rng.randint(1, 12)
        d = self.rng.randint(1, 9)
        dates = [datetime.date(y, m, d)]
        if same_month:
            dates.append(datetime.date(y, m, d + self.rng.randint(7, 19)))
        while len(dates) < count:
            last = dates[-1]
            dates.append(datetime.date(last.year + 2, self.rng.randint(1, 12),
                                       self.rng.randint(1, 28)))
        return dates

    def make_institutions(self):
        insts = []
        for i in range(3):
            tok = self.token()
            name = self.phi.add("Brystdiagnostisk senter %s" % tok,
                                "institution", "InstitutionName")
            self.phi.add(tok, "institution", "InstitutionName")
            street = self.token() + "gata"
            self.phi.add(street, "institution", "InstitutionAddress")
            addr = self.phi.add("%s %d, 5021 Bergen" %
                                (street, self.rng.randint(1, 60)),
                                "institution", "InstitutionAddress")
            dev = ascii_fold(tok).upper()[:8]
            station = self.phi.add("%s-MG%02d" % (dev, i + 1), "device",
                                   "StationName")
            ae = self.phi.add("%s_AE%d" % (dev, i + 1), "device",
                              "SourceApplicationEntityTitle")
            serial = self.ident_id("SN", 8, "device", "DeviceSerialNumber")
            insts.append({"name": name, "address": addr, "station": station,
                          "ae": ae, "serial": serial})
        return insts

    def make_study(self, w, date, key):
        where = "study %s" % key
        s = {"key": key, "woman": w["index"], "date": date,
             "uid": self.uid(where + " StudyInstanceUID"),
             "accession": self.ident_id("RIS", 8, "accession",
                                        where + " AccessionNumber"),
             "study_id": self.ident_id("S", 7, "study-id",
                                       where + " StudyID"),
             "rp_id": self.ident_id("RP", 8, "request-id",
                                    where + " RequestedProcedureID"),
             "sps_id": self.ident_id("SPS", 7, "request-id",
                                     where + " ScheduledProcedureStepID"),
             "pps_id": self.ident_id("PPS", 7, "request-id",
                                     where + " PerformedProcedureStepID"),
             "placer": self.ident_id("PLC", 8, "request-id",
                                     where + " PlacerOrderNumber"),
             "admission": self.ident_id("ADM", 7, "request-id",
                                        where + " AdmissionID"),
             "referring": self.staff(where + " ReferringPhysicianName"),
             "performing": self.staff(where + " PerformingPhysicianName"),
             "operator": self.staff(where + " OperatorsName"),
             "readers": [self.staff(where + " NameOfPhysiciansReadingStudy"),
                         self.staff(where + " NameOfPhysiciansReadingStudy")],
             "record": self.staff(where + " PhysiciansOfRecord"),
             "nested_person": self.staff(
                 where + " RequestAttributesSequence>ScheduledProtocolCode"
                 "Sequence>ProtocolContextSequence PersonName"),
             # Round robin, so every planted institution is on disk.
             "inst": self.institutions[len(self.studies) % 3],
             "time": "%02d%02d%02d" % (self.rng.randint(7, 15),
                                       self.rng.randint(0, 59),
                                       self.rng.randint(0, 59)),
             "series": [], "in_csv": True}
        self.phi.date(date, where + " StudyDate")
        self.phi.add(s["time"], "time", where + " StudyTime")
        t = self.marker_text
        s["study_comments"] = t("Innkalt på nytt etter samtale med %s",
                                "comment", where + " StudyComments")
        s["protocol"] = t("Screening bilateral, bestilt av %s", "free-text",
                          where + " ProtocolName")
        s["pps_desc"] = t("Mammografi utført av %s", "free-text",
                          where + " PerformedProcedureStepDescription")
        s["rp_desc"] = t("Screening for %s-programmet", "free-text",
                         where + " RequestedProcedureDescription")
        s["reason"] = t("Henvist av %s", "free-text",
                        where + " ReasonForTheRequestedProcedure")
        s["code_meaning"] = t("Mammografiprotokoll %s", "free-text",
                              where + " RequestAttributesSequence>"
                              "ScheduledProtocolCodeSequence CodeMeaning")
        s["text_value"] = t("Kontaktperson %s", "free-text",
                            where + " ProtocolContextSequence TextValue "
                            "(3 levels deep)")
        s["proc_code"] = t("Screeningmammografi %s", "free-text",
                           where + " ProcedureCodeSequence CodeMeaning "
                           "(not in Annex E)")
        s["priv_lo"] = t("Privat merknad %s", "private",
                         where + " private (0029,1010) LO")
        s["priv_un"] = t("UN-verdi %s", "private",
                         where + " private (0029,1011) UN")
        s["priv_sq"] = t("Nestet privat %s", "private",
                         where + " private (0029,1012) SQ item")
        s["overlay_desc"] = t("Markering av %s", "overlay",
                              where + " OverlayDescription (6000,0022)")
        s["overlay_label"] = t("Etikett %s", "overlay",
                               where + " OverlayLabel (6000,1500)")
        self.studies.append(s)
        w["studies"].append(s)
        return s

    # --- datasets ------------------------------------------------------

    def base(self, w, s, sop_class, sop_uid, series, inst_no, charset,
             implicit):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = sop_class
        meta.MediaStorageSOPInstanceUID = sop_uid
        meta.TransferSyntaxUID = (ImplicitVRLittleEndian if implicit
                                  else ExplicitVRLittleEndian)
        meta.ImplementationClassUID = IMPL_CLASS_UID
        meta.ImplementationVersionName = IMPL_VERSION
        meta.SourceApplicationEntityTitle = s["inst"]["ae"]
        ds = FileDataset("", Dataset(), file_meta=meta, preamble=b"\0" * 128)
        ds.is_little_endian = True
        ds.is_implicit_VR = implicit
        d = s["date"].strftime("%Y%m%d")
        ds.SpecificCharacterSet = charset
        ds.ImageType = ["ORIGINAL", "PRIMARY"]
        ds.InstanceCreationDate = d
        ds.InstanceCreationTime = s["time"]
        ds.SOPClassUID = sop_class
        ds.SOPInstanceUID = sop_uid
        ds.StudyDate = d
        ds.SeriesDate = d
        ds.AcquisitionDate = d
        ds.ContentDate = d
        acq = "%s%02d" % (s["time"][:4], (int(s["time"][4:]) + inst_no) % 60)
        self.phi.add(acq, "time", "AcquisitionTime")
        ds.AcquisitionDateTime = d + acq
        ds.StudyTime = s["time"]
        ds.SeriesTime = s["time"]
        ds.AcquisitionTime = acq
        ds.ContentTime = acq
        ds.AccessionNumber = s["accession"]
        ds.Modality = series["modality"]
        ds.Manufacturer = "SIEMENS"
        ds.InstitutionName = s["inst"]["name"]
        ds.InstitutionAddress = s["inst"]["address"]
        ds.ReferringPhysicianName = s["referring"]
        ds.StationName = s["inst"]["station"]
        ds.StudyDescription = "Mammografi screening"
        ds.SeriesDescription = series["description"]
        ds.InstitutionalDepartmentName = "Mammografiseksjonen"
        ds.PhysiciansOfRecord = s["record"]
        ds.PerformingPhysicianName = s["performing"]
        ds.NameOfPhysiciansReadingStudy = s["readers"]
        ds.OperatorsName = s["operator"]
        ds.ManufacturerModelName = "Mammomat Inspiration"
        pc = Dataset()
        pc.CodeValue = "24623002"
        pc.CodingSchemeDesignator = "SCT"
        pc.CodeMeaning = s["proc_code"]
        ds.ProcedureCodeSequence = [pc]
        ds.PatientName = w["pn"]
        ds.PatientID = w["fnr"]
        ds.PatientBirthDate = w["birth"].strftime("%Y%m%d")
        ds.PatientSex = "F"
        ds.add_new(0x00101000, "LO", w["other_id"])        # OtherPatientIDs
        op = Dataset()
        op.PatientID = w["other_id2"]
        op.TypeOfPatientID = "TEXT"
        ds.OtherPatientIDsSequence = [op]
        ds.PatientAge = "%03dY" % (s["date"].year - w["birth"].year)
        ds.PatientAddress = w["address"]
        ds.PatientMotherBirthName = w["mother"]
        ds.PatientTelephoneNumbers = w["phone"]
        ds.AdditionalPatientHistory = w["history"]
        ds.PatientComments = w["comments"]
        ds.DeviceSerialNumber = s["inst"]["serial"]
        ds.SoftwareVersions = "VB60A"
        ds.ProtocolName = s["protocol"]
        ds.StudyInstanceUID = s["uid"]
        ds.SeriesInstanceUID = series["uid"]
        ds.StudyID = s["study_id"]
        ds.SeriesNumber = series["number"]
        ds.InstanceNumber = inst_no
        ds.FrameOfReferenceUID = series["for_uid"]
        ds.add_new(0x00324000, "LT", s["study_comments"])  # StudyComments
        ds.AdmissionID = s["admission"]
        ds.PerformedProcedureStepStartDate = d
        ds.PerformedProcedureStepStartTime = s["time"]
        ds.PerformedProcedureStepID = s["pps_id"]
        ds.PerformedProcedureStepDescription = s["pps_desc"]
        # RequestAttributesSequence > ScheduledProtocolCodeSequence >
        # ProtocolContextSequence: names and IDs three levels deep.
        ctx = Dataset()
        ctx.ValueType = "TEXT"
        cn = Dataset()
        cn.CodeValue = "121106"
        cn.CodingSchemeDesignator = "DCM"
        cn.CodeMeaning = "Comment"
        ctx.ConceptNameCodeSequence = [cn]
        ctx.TextValue = s["text_value"]
        ctx.PersonName = s["nested_person"]
        spc = Dataset()
        spc.CodeValue = "MAMSCR"
        spc.CodingSchemeDesignator = "99NORMAMMO"
        spc.CodeMeaning = s["code_meaning"]
        spc.ProtocolContextSequence = [ctx]
        ra = Dataset()
        ra.RequestedProcedureID = s["rp_id"]
        ra.ScheduledProcedureStepID = s["sps_id"]
        ra.RequestedProcedureDescription = s["rp_desc"]
        ra.ReasonForTheRequestedProcedure = s["reason"]
        ra.ScheduledProtocolCodeSequence = [spc]
        ds.RequestAttributesSequence = [ra]
        ds.PlacerOrderNumberImagingServiceRequest = s["placer"]
        return ds

    def add_private(self, ds, s, charset):
        enc = "latin_1" if charset == LATIN1 else "utf-8"
        ds.add_new(0x00290010, "LO", PRIVATE_CREATOR)
        ds.add_new(0x00291010, "LO", s["priv_lo"])
        raw = s["priv_un"].encode(enc)
        ds.add_new(0x00291011, "UN", raw + b" " * (len(raw) % 2))
        item = Dataset()
        item.add_new(0x00290010, "LO", PRIVATE_CREATOR)
        item.add_new(0x00291001, "LO", s["priv_sq"])
        item.add_new(0x00291002, "PN", s["referring"])
        ds.add_new(0x00291012, "SQ", Sequence([item]))

    def add_overlay(self, ds, s, rows, cols, nrng):
        nbytes = (rows * cols + 7) // 8
        nbytes += nbytes % 2
        ds.add_new(0x60000010, "US", rows)
        ds.add_new(0x60000011, "US", cols)
        ds.add_new(0x60000022, "LO", s["overlay_desc"])
        ds.add_new(0x60000040, "CS", "G")
        ds.add_new(0x60000050, "SS", [1, 1])
        ds.add_new(0x60000100, "US", 1)
        ds.add_new(0x60000102, "US", 0)
        ds.add_new(0x60001500, "LO", s["overlay_label"])
        ds.add_new(0x60003000, "OW",
                   nrng.integers(0, 256, nbytes, dtype=np.uint8).tobytes())

    def pixels(self, ds, rows, cols, bits):
        # Each image gets its own generator so --big does not change the
        # values of anything else.
        self.img_n += 1
        nrng = np.random.Generator(np.random.PCG64(
            [self.args.seed & 0xffffffff, self.img_n]))
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.Rows = rows
        ds.Columns = cols
        if bits == 16:
            ds.BitsAllocated = 16
            ds.BitsStored = 12
            ds.HighBit = 11
            ds.PixelRepresentation = 0
            px = nrng.integers(0, 4096, (rows, cols), dtype=np.uint16)
            ds.WindowCenter = 2048
            ds.WindowWidth = 4096
            ds.PixelData = px.astype("<u2").tobytes()
        else:
            ds.BitsAllocated = 8
            ds.BitsStored = 8
            ds.HighBit = 7
            ds.PixelRepresentation = 0
            ds.PixelData = nrng.integers(0, 256, (rows, cols),
                                         dtype=np.uint8).tobytes()
        ds["PixelData"].VR = "OW" if bits == 16 else "OB"
        return nrng

    def mg_image(self, w, s, series, view, inst_no, charset, implicit,
                 burned_in=False, overlay=False, no_modality=False,
                 comments=None):
        sop_uid = self.uid("study %s image %d SOPInstanceUID"
                           % (s["key"], inst_no))
        ds = self.base(w, s, MG_PRESENTATION, sop_uid, series, inst_no,
                       charset, implicit)
        lat, pos, code, meaning = view
        ds.PresentationIntentType = "FOR PRESENTATION"
        ds.BodyPartExamined = "BREAST"
        ds.ImageLaterality = lat
        ds.ViewPosition = pos
        vc = Dataset()
        vc.CodeValue = code
        vc.CodingSchemeDesignator = "SCT"
        vc.CodeMeaning = meaning
        ds.ViewCodeSequence = [vc]
        self.add_references(ds, s, inst_no)
        ds.PatientOrientation = ["A", "R" if lat == "L" else "L"] \
            if pos == "CC" else ["A", "FR" if lat == "L" else "FL"]
        ds.BurnedInAnnotation = "YES" if burned_in else "NO"
        ds.PixelIntensityRelationship = "LOG"
        ds.PixelIntensityRelationshipSign = -1
        ds.RescaleIntercept = 0
        ds.RescaleSlope = 1
        ds.RescaleType = "US"
        ds.ImageComments = comments or self.marker_text(
            "Tatt av %s", "comment", "study %s image %d ImageComments"
            % (s["key"], inst_no))
        nrng = self.pixels(ds, self.args.rows, self.args.cols, 16)
        self.add_private(ds, s, charset)
        if overlay:
            self.add_overlay(ds, s, self.args.rows, self.args.cols, nrng)
        if no_modality:
            del ds.Modality
        return ds

    def add_references(self, ds, s, inst_no):
        """What a modality writes into a mammogram that the profile's
        compound codes (X/Z, X/Z/D, X/D) act on, identifying values
        inside: the referenced study and procedure step (UIDs), the
        operator (an ID code and the institution), and a pixel spacing
        calibration with a free-text description.  Whether each is
        removed, emptied or replaced by a dummy depends on its Type in
        the Digital Mammography IOD (issue 9)."""
        where = "study %s image %d " % (s["key"], inst_no)
        rs = Dataset()
        rs.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.3.1"
        rs.ReferencedSOPInstanceUID = self.uid(where +
                                               "ReferencedStudySequence")
        ds.ReferencedStudySequence = [rs]
        pps = Dataset()
        pps.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.3.3"
        # one procedure step per study: every image refers to it
        if "pps_uid" not in s:
            s["pps_uid"] = self.uid(
                "study %s ReferencedPerformedProcedureStepSequence"
                % s["key"])
        pps.ReferencedSOPInstanceUID = s["pps_uid"]
        ds.ReferencedPerformedProcedureStepSequence = [pps]
        code = Dataset()
        code.CodeValue = self.ident_id("OP", 6, "staff-id",
                                       where + "OperatorIdentification"
                                       "Sequence>PersonIdentificationCode")
        code.CodingSchemeDesignator = "L"
        code.CodeMeaning = s["operator"]
        op = Dataset()
        op.PersonIdentificationCodeSequence = [code]
        op.InstitutionName = s["inst"]["name"]
        ds.OperatorIdentificationSequence = [op]
        ds.ImagerPixelSpacing = [0.1, 0.1]
        ds.PixelSpacing = [0.1, 0.1]
        ds.PixelSpacingCalibrationType = "GEOMETRY"
        # the operator's name (planted as such): a token of its own would
        # be missing from the archive when this file is written truncated
        ds.PixelSpacingCalibrationDescription = "Kalibrert av %s" % \
            s["operator"].replace("^", " ")

    def sc_image(self, w, s, series, inst_no, charset, description):
        sop_uid = self.uid("study %s SC %d SOPInstanceUID" %
                           (s["key"], inst_no))
        ds = self.base(w, s, SECONDARY_CAPTURE, sop_uid, series, inst_no,
                       charset, False)
        ds.ImageType = ["DERIVED", "SECONDARY"]
        ds.ConversionType = "WSD"
        ds.BurnedInAnnotation = "NO"
        ds.ImageComments = self.marker_text(
            "Skjermbilde %s", "comment", "study %s SC %d ImageComments (%s)"
            % (s["key"], inst_no, description))
        n = min(self.args.rows, 512)
        m = min(self.args.cols, 512)
        self.pixels(ds, n, m, 8)
        # a Modality LUT whose Type (LO, Type 1 in the item) holds text:
        # the conservative rule may not simply remove it (issue 9)
        lut = Dataset()
        lut.LUTDescriptor = [256, 0, 16]
        lut.ModalityLUTType = self.marker_text(
            "LUT %s", "comment", "study %s SC %d ModalityLUTType"
            % (s["key"], inst_no))
        lut.add_new(0x00283006, "US", list(range(256)))     # LUTData
        ds.ModalityLUTSequence = [lut]
        return ds

    def ct_image(self, w, s, series, inst_no, charset):
        sop_uid = self.uid("study %s CT %d SOPInstanceUID" %
                           (s["key"], inst_no))
        ds = self.base(w, s, CT_IMAGE, sop_uid, series, inst_no, charset,
                       False)
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.BurnedInAnnotation = "NO"
        ds.KVP = 120
        ds.SliceThickness = 5
        ds.ImagePositionPatient = [0, 0, 0]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.PixelSpacing = [0.7, 0.7]
        ds.RescaleIntercept = -1024
        ds.RescaleSlope = 1
        self.pixels(ds, min(self.args.rows, 512), min(self.args.cols, 512),
                    16)
        return ds

    def new_series(self, s, number, modality, description):
        where = "study %s series %d" % (s["key"], number)
        se = {"number": number, "modality": modality,
              "description": description,
              "uid": self.uid(where + " SeriesInstanceUID"),
              "for_uid": self.uid(where + " FrameOfReferenceUID")}
        s["series"].append(se)
        return se

    # --- files ---------------------------------------------------------

    def write(self, relpath, ds, info, padding=None, truncate=None):
        path = os.path.join(os.fsencode(self.ident), relpath)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if padding is not None:
            ds.add_new(0xFFFCFFFC, "OB", padding + b" " * (len(padding) % 2))
        with warnings.catch_warnings(), open(path, "wb") as f:
            warnings.simplefilter("ignore")
            pydicom.dcmwrite(f, ds, write_like_original=False)
        if truncate is not None:
            with open(path, "rb") as f:
                data = f.read()
            cut = truncate(data)
            with open(path, "wb") as f:
                f.write(data[:cut])
        ts = str(ds.file_meta.TransferSyntaxUID)
        rec = {"path": os.fsdecode(relpath), "kind": info.pop("kind"),
               "expect": info.pop("expect", "publish"),
               "reason": info.pop("reason", None),
               "woman": info.pop("woman", None),
               "study": info.pop("study", None),
               "study_uid": str(ds.get("StudyInstanceUID", "")) or None,
               "series_uid": str(ds.get("SeriesInstanceUID", "")) or None,
               "sop_uid": str(ds.SOPInstanceUID),
               "sop_class": str(ds.SOPClassUID),
               "modality": ds.get("Modality"),
               "series_number": ds.get("SeriesNumber"),
               "instance_number": ds.get("InstanceNumber"),
               "laterality": ds.get("ImageLaterality"),
               "view": ds.get("ViewPosition"),
               "transfer_syntax": ts,
               "charset": ds.get("SpecificCharacterSet"),
               "rows": ds.get("Rows"), "cols": ds.get("Columns"),
               "trailing_padding": padding is not None,
               "references": None,
               "pydicom_readable": truncate is None,
               "size": os.path.getsize(path)}
        rec.update(info)
        self.files.append(rec)
        return rec

    def write_raw(self, relpath, data, info):
        path = os.path.join(os.fsencode(self.ident), relpath)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
        rec = {"path": os.fsdecode(relpath), "pydicom_readable": False,
               "size": len(data), "trailing_padding": False,
               "references": None, "sop_uid": None, "study_uid": None,
               "series_uid": None}
        rec.update(info)
        self.files.append(rec)
        return rec

    def padding_text(self, w, s, enc):
        tok = self.token()
        where = "study %s trailing padding (FFFC,FFFC)" % s["key"]
        self.phi.add(tok, "padding", where)
        text = self.phi.add("PADDING %s %s %s" % (w["pn"], w["fnr"], tok),
                            "padding", where)
        return text.encode(enc)

    # --- layout --------------------------------------------------------

    def study_dir(self, w, s, style):
        """Folder of a study as bytes; style picks one messy layout."""
        sur, given, fnr = w["surname"], w["given"], w["fnr"]
        d = s["date"]
        if style == "deep":
            p = "Eksport 2019/PACS backup/gammel/%s^%s %s/%s MAMMO/Serie 1" % (
                sur, given, fnr, d.strftime("%Y-%m-%d"))
            return p.encode("utf-8")
        if style == "latin1":
            # An old Windows export: the folder name bytes are Latin-1.
            p = "%s, %s (%s)/%s_%s" % (sur, given, fnr, d.strftime("%Y%m%d"),
                                       s["accession"])
            return p.encode("latin_1")
        if style == "fnrfirst":
            p = "%s_%s_%s/Screening %s" % (fnr, sur, given,
                                           d.strftime("%d.%m.%Y"))
            return p.encode("utf-8")
        p = "%s^%s %s/%s MAMMO" % (sur, given, fnr, d.strftime("%Y-%m-%d"))
        return p.encode("utf-8")

    def file_name(self, w, style, n, view=None):
        if style == "fnrfirst" and view is not None:
            return ("%s_%s%s_%d.dcm" % (w["surname"], view[0], view[1],
                                        n)).encode("utf-8")
        if style == "latin1":
            return ("%d_%04d.DCM" % (n // 100, n % 100)).encode("ascii")
        return ("IMG%04d.dcm" % n).encode("ascii")

    def write_mg_study(self, w, s, style, implicit=False, burned=(),
                       padding_on=None, reference=False, overlay=True):
        """The 4-image MG series of a study; returns the file records."""
        se = self.new_series(s, 1, "MG", "Screening bilateral")
        sdir = self.study_dir(w, s, style)
        recs = []
        uids = {}
        for i, view in enumerate(VIEWS):
            inst_no = i + 1
            ds = self.mg_image(w, s, se, view, inst_no, w["charset"],
                               implicit, burned_in=(burned == "all" or
                                                    i in burned),
                               overlay=(overlay and i == 0))
            # (burned may be "all" or a tuple of indexes)
            ref = None
            if reference and view[:2] == ("R", "MLO"):
                item = Dataset()
                item.ReferencedSOPClassUID = MG_PRESENTATION
                item.ReferencedSOPInstanceUID = uids[("R", "CC")]
                ds.ReferencedImageSequence = [item]
                ref = uids[("R", "CC")]
            uids[view[:2]] = str(ds.SOPInstanceUID)
            pad = None
            if padding_on == i:
                pad = self.padding_text(
                    w, s, "latin_1" if w["charset"] == LATIN1 else "utf-8")
            q = burned == "all" or i in burned
            rec = self.write(
                sdir + b"/" + self.file_name(w, style, inst_no, view[:2]),
                ds, {"kind": "mg", "woman": w["index"], "study": s["key"],
                     "expect": "quarantine" if q else "publish",
                     "reason": "burned-in" if q else None},
                padding=pad)
            rec["references"] = ref
            recs.append(rec)
        return recs

    def build(self):
        self.institutions = self.make_institutions()
        women = self.make_women()
        self.women = women
        os.makedirs(self.ident)

        # Woman 0: three studies, two of them in the same month; UTF-8; a
        # referenced image; trailing padding; a CT series; a deep folder.
        w = women[0]
        dates = self.study_dates(w, 3, same_month=True)
        s0 = self.make_study(w, dates[0], "w0s1")
        s1 = self.make_study(w, dates[1], "w0s2")
        s2 = self.make_study(w, dates[2], "w0s3")
        self.write_mg_study(w, s0, "plain", reference=True, padding_on=3)
        ct = self.new_series(s0, 5, "CT", "Thorax oversikt")
        self.write(self.study_dir(w, s0, "plain") + b"/IMG0005.dcm",
                   self.ct_image(w, s0, ct, 1, w["charset"]),
                   {"kind": "ct", "woman": 0, "study": "w0s1",
                    "expect": "quarantine", "reason": "modality"})
        self.write_mg_study(w, s1, "plain")
        self.write_mg_study(w, s2, "deep")

        # Woman 1: Latin-1 everywhere (also the folder name bytes); second
        # study in implicit VR; one burned-in image; a Patient Protocol.
        w = women[1]
        dates = self.study_dates(w, 2, same_month=False)
        s0 = self.make_study(w, dates[0], "w1s1")
        s1 = self.make_study(w, dates[1], "w1s2")
        self.write_mg_study(w, s0, "latin1", burned=(1,))
        pp = self.new_series(s0, 900, "OT", "Patient Protocol")
        self.write(self.study_dir(w, s0, "latin1") + b"/900_0001.DCM",
                   self.sc_image(w, s0, pp, 1, w["charset"],
                                 "Patient Protocol"),
                   {"kind": "sc", "woman": 1, "study": "w1s1",
                    "expect": "quarantine", "reason": "protocol"})
        self.write_mg_study(w, s1, "latin1", implicit=True)

        # Woman 2: her only study is entirely burned-in.
        w = women[2]
        dates = self.study_dates(w, 1, same_month=False)
        s0 = self.make_study(w, dates[0], "w2s1")
        self.write_mg_study(w, s0, "fnrfirst", burned="all")

        # Woman 3: Latin-1; a screen capture, a file without Modality and
        # an OT secondary capture; the second study has no CSV row.
        w = women[3]
        dates = self.study_dates(w, 2, same_month=False)
        s0 = self.make_study(w, dates[0], "w3s1")
        s1 = self.make_study(w, dates[1], "w3s2")
        s1["in_csv"] = False
        self.write_mg_study(w, s0, "plain")
        sdir = self.study_dir(w, s0, "plain")
        se = self.new_series(s0, 901, "OT", "Dose Save")
        self.write(sdir + b"/IMG0901.dcm",
                   self.sc_image(w, s0, se, 1, w["charset"], "Dose Save"),
                   {"kind": "sc", "woman": 3, "study": "w3s1",
                    "expect": "quarantine", "reason": "screen-capture"})
        se = self.new_series(s0, 2, "MG", "Tilleggsbilde")
        ds = self.mg_image(w, s0, se, VIEWS[0], 1, w["charset"], False,
                           no_modality=True)
        self.write(sdir + b"/IMG0006.dcm", ds,
                   {"kind": "mg", "woman": 3, "study": "w3s1",
                    "expect": "quarantine", "reason": "no-modality"})
        se = self.new_series(s0, 3, "OT", "Mammo oversikt")
        self.write(sdir + b"/IMG0007.dcm",
                   self.sc_image(w, s0, se, 1, w["charset"], "OT"),
                   {"kind": "sc", "woman": 3, "study": "w3s1",
                    "expect": "publish-if-OT", "reason": "modality"})
        self.write_mg_study(w, s1, "fnrfirst")

        # Woman 4: trailing padding, two truncated files, non-DICOM files;
        # her CSV rows add an unlinked screening and a bad date.
        w = women[4]
        dates = self.study_dates(w, 1, same_month=False)
        s0 = self.make_study(w, dates[0], "w4s1")
        self.write_mg_study(w, s0, "plain", padding_on=0)
        sdir = self.study_dir(w, s0, "plain")
        top = sdir.split(b"/")[0]
        se = self.new_series(s0, 7, "MG", "Avbrutt overføring")

        def in_header(data):
            return data.index(b"\x10\x00\x10\x00") + 40   # inside the name

        def in_pixels(data):
            return len(data) - (self.args.rows * self.args.cols)

        for n, cut, what in ((1, in_header, "truncated in header"),
                             (2, in_pixels, "truncated in pixel data")):
            # A marker planted here could be cut off, and then a test
            # could not find it in the archive: reuse a string that is
            # planted elsewhere too.
            ds = self.mg_image(w, s0, se, VIEWS[n], n, w["charset"], False,
                               overlay=False, comments=w["comments"])
            self.write(sdir + b"/IMG07%02d.dcm" % n, ds,
                       {"kind": "truncated", "woman": 4, "study": "w4s1",
                        "expect": "quarantine", "reason": "unparseable",
                        "note": what}, truncate=cut)
        note = ("Notat: %s (%s) ønsker kopi av bildene.\n"
                % (w["pn"].replace("^", " "), w["fnr"])).encode("utf-8")
        self.write_raw(top + ("/notat %s.txt" % w["surname"]).encode(),
                       note, {"kind": "text", "woman": 4, "study": None,
                              "expect": "quarantine", "reason": "not-dicom"})
        jpg = ("Skjermbilde %s %s\n" % (w["pn"], w["fnr"])).encode("latin_1")
        self.write_raw(sdir + ("/skjermbilde_%s.jpg" % w["fnr"]).encode(),
                       jpg, {"kind": "text", "woman": 4, "study": None,
                             "expect": "quarantine", "reason": "not-dicom"})

        # Women 5..N-1: ordinary screening histories.
        styles = ["plain", "fnrfirst", "deep", "plain"]
        for w in women[5:]:
            count = self.rng.randint(1, 3)
            dates = self.study_dates(w, count, same_month=False)
            for k, d in enumerate(dates):
                s = self.make_study(w, d, "w%ds%d" % (w["index"], k + 1))
                style = styles[(w["index"] + k) % len(styles)]
                if style == "deep" and k:
                    style = "plain"
                self.write_mg_study(w, s, style)

        self.write_dicomdir(women[0])
        self.write_csv(women)
        self.fix_mtimes()

    def write_dicomdir(self, w):
        """A DICOMDIR at the top, as on an export CD: it names the patient."""
        from pydicom.fileset import FileSet
        fs = FileSet()
        fs.ID = "MAMMOEKSPORT"
        fs.UID = self.uid("DICOMDIR SOPInstanceUID")
        ids = [r for r in self.files
               if r["woman"] == w["index"] and r["kind"] == "mg"
               and r["study"] == w["studies"][0]["key"]]
        with tempfile.TemporaryDirectory() as tmp:
            for r in ids:
                fs.add(os.path.join(os.fsencode(self.ident),
                                    os.fsencode(r["path"])).decode(
                                        "utf-8", "surrogateescape"))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fs.write(tmp)
            shutil.copyfile(os.path.join(tmp, "DICOMDIR"),
                            os.path.join(self.ident, "DICOMDIR"))
        self.files.append({"path": "DICOMDIR", "kind": "dicomdir",
                           "expect": "quarantine", "reason": "dicomdir",
                           "woman": w["index"], "study": None,
                           "sop_uid": None, "study_uid": None,
                           "series_uid": None,
                           "sop_class": "1.2.840.10008.1.3.10",
                           "pydicom_readable": True,
                           "trailing_padding": False, "references": None,
                           "size": os.path.getsize(
                               os.path.join(self.ident, "DICOMDIR"))})

    def write_csv(self, women):
        header = ["fnr", "invitasjon_id", "screeningdato", "tetthet",
                  "birads", "biopsi", "side", "tilbakekalt", "funn",
                  "diagnosedato", "tumorstørrelse_mm"]
        rows = []

        def inv(where):
            return self.phi.add(str(self.rng.randint(7000000000, 7999999999)),
                                "invitation-id", where)

        def clinical(with_diag, date):
            dens = self.rng.choice(DENSITY)
            birads = str(self.rng.randint(3, 5)) if with_diag else \
                str(self.rng.randint(1, 2))
            biopsy = "ja" if with_diag else "nei"
            side = self.rng.choice(SIDES[1:]) if with_diag else ""
            recall = "ja" if with_diag else "nei"
            find = self.rng.choice(FINDINGS[1:]) if with_diag else \
                self.rng.choice(FINDINGS[:2])
            if with_diag:
                dd = date + datetime.timedelta(days=self.rng.randint(14, 90))
                diag = dd.strftime("%d.%m.%Y")
                size = "%d.%d" % (self.rng.randint(4, 40),
                                  self.rng.randint(0, 9))
            else:
                diag, size = "", ""
            return [dens, birads, biopsy, side, recall, find, diag, size]

        for w in women:
            for s in w["studies"]:
                if not s["in_csv"]:
                    continue
                kind = "linked"
                if all(f["expect"] == "quarantine" for f in self.files
                       if f["study"] == s["key"]):
                    kind = "quarantined-study"
                vals = clinical(self.rng.random() < 0.3, s["date"])
                if s["key"] == "w3s1":
                    kind = "bad-diagnosis-date"
                    vals = clinical(True, s["date"])
                    vals[6] = "31.02.%d" % (s["date"].year + 1)
                if vals[6] and kind != "bad-diagnosis-date":
                    self.phi.date(datetime.datetime.strptime(
                        vals[6], "%d.%m.%Y").date(), "CSV diagnosedato")
                date_txt = s["date"].strftime("%d.%m.%Y")
                rows.append({"cells": [w["fnr"], inv("CSV invitasjon_id"),
                                       date_txt] + vals,
                             "kind": kind, "study": s["key"],
                             "fnr": w["fnr"],
                             "date": s["date"].strftime("%Y%m%d")})
            if w["index"] == 4:
                last = w["studies"][-1]["date"]
                d = datetime.date(last.year + 2, last.month,
                                  min(last.day, 28))
                self.phi.date(d, "CSV screeningdato without study")
                rows.append({"cells": [w["fnr"], inv("CSV invitasjon_id"),
                                       d.strftime("%d.%m.%Y")]
                             + clinical(False, d),
                             "kind": "unlinked-row", "study": None,
                             "fnr": w["fnr"],
                             "date": d.strftime("%Y%m%d")})
                rows.append({"cells": [w["fnr"], inv("CSV invitasjon_id"),
                                       "31.02.%d" % (last.year + 4)]
                             + clinical(False, last),
                             "kind": "bad-screening-date", "study": None,
                             "fnr": w["fnr"], "date": ""})
        lines = [";".join(header)]
        for i, r in enumerate(rows):
            r["line"] = i + 2
            lines.append(";".join(r["cells"]))
        with open(os.path.join(self.out, "variables.csv"), "wb") as f:
            f.write(("\n".join(lines) + "\n").encode("utf-8"))
        self.csv_header = header
        self.csv_rows = rows

    def fix_mtimes(self):
        for root, dirs, files in os.walk(os.fsencode(self.ident),
                                         topdown=False):
            for n in files + dirs:
                os.utime(os.path.join(root, n), (FIXED_MTIME, FIXED_MTIME),
                         follow_symlinks=False)
        os.utime(self.ident, (FIXED_MTIME, FIXED_MTIME))
        os.utime(os.path.join(self.out, "variables.csv"),
                 (FIXED_MTIME, FIXED_MTIME))

    # --- the JSON ------------------------------------------------------

    def build_truth(self):
        """
        truth = {
          "seed", "rows", "cols",
          "women":   [{index, fnr, name, birth_date, charset, studies}],
          "studies": [{key, woman, fnr, date (YYYYMMDD), study_uid,
                       accession, in_csv, published_images,
                       all_quarantined, series: [{number, modality,
                       description, uid}]}],
          "files":   [{path (os.fsencode() gives the on-disk bytes,
                       relative to identified/), kind (mg, sc, ct, truncated,
                       text, dicomdir), expect (publish, quarantine,
                       publish-if-OT), reason (burned-in, protocol,
                       screen-capture, modality, no-modality, unparseable,
                       not-dicom, dicomdir or null), woman, study, sop_uid,
                       study_uid, series_uid, sop_class, modality,
                       laterality, view, transfer_syntax, charset,
                       trailing_padding, references (the SOP Instance UID
                       that its ReferencedImageSequence points at),
                       pydicom_readable, size, ...}],
          "csv":     {path, header, rows: [{line (1-based, header is 1),
                       fnr, date (YYYYMMDD or "" when unparseable), kind
                       (linked, quarantined-study, bad-diagnosis-date,
                       unlinked-row, bad-screening-date), study}]},
          "unlinked_studies": [study keys with no CSV row],
          "same_month": [[study keys of one woman in the same month]],
        }
        """
        studies = []
        for s in self.studies:
            files = [f for f in self.files if f["study"] == s["key"]]
            pub = [f for f in files if f["expect"] == "publish"]
            studies.append({
                "key": s["key"], "woman": s["woman"],
                "fnr": self.women[s["woman"]]["fnr"],
                "date": s["date"].strftime("%Y%m%d"),
                "study_uid": s["uid"], "accession": s["accession"],
                "in_csv": s["in_csv"], "published_images": len(pub),
                "all_quarantined": not any(f["expect"] != "quarantine"
                                           for f in files),
                "series": [{"number": se["number"],
                            "modality": se["modality"],
                            "description": se["description"],
                            "uid": se["uid"]} for se in s["series"]]})
        # Every file record has every key (None where it does not apply).
        keys = []
        for f in self.files:
            keys += [k for k in f if k not in keys]
        for f in self.files:
            for k in keys:
                f.setdefault(k, None)
        same = []
        for w in self.women:
            by_month = {}
            for s in w["studies"]:
                by_month.setdefault(s["date"].strftime("%Y%m"),
                                    []).append(s["key"])
            same += [v for v in by_month.values() if len(v) > 1]
        return {
            "seed": self.args.seed, "rows": self.args.rows,
            "cols": self.args.cols,
            "women": [{"index": w["index"], "fnr": w["fnr"],
                       "name": w["pn"],
                       "birth_date": w["birth"].strftime("%Y%m%d"),
                       "charset": w["charset"],
                       "studies": [s["key"] for s in w["studies"]]}
                      for w in self.women],
            "studies": studies,
            "files": self.files,
            "csv": {"path": "variables.csv", "header": self.csv_header,
                    "rows": [{k: r[k] for k in ("line", "fnr", "date",
                                                "kind", "study")}
                             for r in self.csv_rows]},
            "unlinked_studies": [s["key"] for s in self.studies
                                 if not s["in_csv"]],
            "same_month": same,
        }

    def write_phi_json(self, path):
        p = self.phi
        doc = {
            "strings": p.collect(exclude=Phi.NOT_STRINGS),
            "ids": p.collect(cats=Phi.IDS),
            "names": p.collect(cats=Phi.NAMES),
            "uids": p.collect(cats=("uid",)),
            "dates": p.collect(cats=("date",)),
            "times": p.collect(cats=("time",)),
            "categories": p.cats,
            "where": p.where,
            "truth": self.build_truth(),
        }
        with open(path, "w", encoding="utf-8") as f:
            json.dump(doc, f, ensure_ascii=True, indent=1)
            f.write("\n")


def main(argv=None):
    ap = argparse.ArgumentParser(
        description="Build a synthetic identified mammography archive.")
    ap.add_argument("outdir")
    ap.add_argument("--women", type=int, default=6)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--rows", type=int, default=64)
    ap.add_argument("--cols", type=int, default=64)
    ap.add_argument("--big", action="store_true",
                    help="3328x2560 images (~17 MB each), for benchmarks")
    ap.add_argument("--phi-out", metavar="FILE")
    args = ap.parse_args(argv)
    if args.women < 5:
        ap.error("--women must be at least 5 (each test case needs a woman)")
    if args.big:
        args.rows, args.cols = 3328, 2560
    if not (8 <= args.rows <= 8192 and 8 <= args.cols <= 8192):
        ap.error("--rows/--cols must be within 8..8192")
    if args.rows % 2 or args.cols % 2:
        ap.error("--rows/--cols must be even")
    os.makedirs(args.outdir, exist_ok=True)
    if os.path.exists(os.path.join(args.outdir, "identified")):
        ap.error("OUTDIR/identified exists already")
    g = Gen(args)
    g.build()
    if args.phi_out:
        g.write_phi_json(args.phi_out)
    nfiles = len(g.files)
    print("make_archive: %d women, %d studies, %d files, %d CSV rows"
          % (len(g.women), len(g.studies), nfiles, len(g.csv_rows)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
