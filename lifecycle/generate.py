"""Synthetic WLCG-like catalogs in the exchange format, from a handful to millions of datasets.

``generate(directory, datasets, seed)`` writes the eight exchange tables (FORMAT.md) as Parquet:
about 150 sites (the real ATLAS Tier-0/1/2 names first, then plausible synthetic Tier-2/3 sites),
their Rucio-style endpoints, and a dataset population shaped like ATLAS production:

* ``raw`` RAW per (run, stream), two tape copies (CERN-PROD_DATATAPE plus a Tier-1 DATATAPE) and
  often a disk copy;
* ``calibration`` conditions folders per data project and run block, each in several versions,
  fed to data reconstruction with role ``calibration`` (MC records its conditions tag only);
  ``metadata`` DBRelease datasets fed to some productions with role ``config``;
* ``derived`` (data) and ``simulated`` (MC) chains built from templates: Tier-0 reconstruction in
  two task parts merged into one AOD, reprocessing, derivations (PHYS and a skimmed format from one
  derivation task), MC event generation, simulation in parts plus HITS merge, digitization with
  pile-up overlay, reconstruction and AOD merges. Depth (productions crossed from a root) is
  at most 8: complete MC chains reach 6 to 8, Tier-0 data chains 4, reprocessed and express data
  chains 3 and 2; about a quarter of all chains stop early;
* a few ``outreach`` open-data ntuples at the ends of the longest chains.

Names follow ATLAS nomenclature (``project.number.stream.step.DATA_TYPE.tags``); the tag list of a
dataset is the tags of its primary input plus the tag of its own production, and the parts of a
split task carry the ``_tid<task>_00`` suffix, so every name is unique by construction.

Planted policy violations (about 1 % of the population concerned, counted in
``GenerateSummary.planted``): RAW with a single tape copy, RAW whose two tape copies sit at one site,
transformations without an image digest (and the datasets they produced), derived datasets past
their ``expires_at``, lost replicas.

Everything is drawn from one ``numpy.random.Generator(PCG64(seed))`` in a fixed order and built
column-wise, so the same seed gives identical tables (and byte-identical files with the same
pyarrow), and a million datasets take well under a minute. Sites are the same for every seed: they
are the grid, not the data.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["GenerateSummary", "TABLES", "generate", "schemas"]

ProgressCallback = Callable[[str, int, int], None]

TABLES = (
    "sites",
    "endpoints",
    "datasets",
    "replicas",
    "transformations",
    "productions",
    "production_io",
    "pins",
)

_DAY = 86_400
_HOUR = 3_600


def _ts(text: str) -> int:
    """Seconds since the epoch (UTC) of an ISO date or date-time."""
    return int(np.datetime64(text, "s").astype(np.int64))


_EPOCH = _ts("2015-01-01")
# The catalog's "now": nothing is created or accessed after it. Lifetimes that have not run out
# are set to 2030 or later, planted expired ones end before _EXPIRED_BEFORE, so the planted count
# stays true whatever day an audit runs.
_NOW = _ts("2025-12-31T00:00:00")
_EXPIRED_BEFORE = _ts("2025-07-01")
_EXPIRY_FUTURE = (_ts("2030-01-01"), _ts("2036-12-31"))

_ROW_GROUP = 262_144


@dataclass(frozen=True)
class GenerateSummary:
    """What :func:`generate` wrote: the directory, rows per table, and planted violations.

    ``planted`` keys: ``raw_single_tape_copy`` (RAW with one available tape replica),
    ``raw_tape_copies_same_site`` (RAW whose two tape replicas are DATATAPE and MCTAPE of one
    site), ``transformation_without_digest`` (null ``image_digest``), ``datasets_without_digest``
    (outputs of those transformations), ``expired_derived`` (kind derived, ``expires_at`` before
    2025-07-01), ``lost_replica`` (replicas in state lost).
    """

    directory: Path
    rows: dict[str, int]
    planted: dict[str, int]


# --------------------------------------------------------------------------------------------
# The grid
# --------------------------------------------------------------------------------------------

# Real sites from the ATLAS site list (shared/data/atlas/atlas_sites.csv): (name, tier, country,
# cloud). NIKHEF-ELPROD is the disk half of the Dutch Tier-1, so it has no tape endpoints; the
# Turkish site had no cloud in the source, so its cloud is null.
_REAL_SITES: tuple[tuple[str, int, str, str | None], ...] = (
    ("CERN-PROD", 0, "ch", "CERN"),
    ("TRIUMF-LCG2", 1, "ca", "CA"),
    ("FZK-LCG2", 1, "de", "DE"),
    ("PIC", 1, "es", "ES"),
    ("IN2P3-CC", 1, "fr", "FR"),
    ("INFN-T1", 1, "it", "IT"),
    ("NDGF-T1", 1, "dk", "ND"),
    ("SARA-MATRIX", 1, "nl", "NL"),
    ("TAIWAN-LCG2", 1, "tw", "TW"),
    ("RAL-LCG2", 1, "gb", "UK"),
    ("BNL-OSG2", 1, "us", "US"),
    ("RRC-KI-T1", 1, "ru", "RU"),
    ("NIKHEF-ELPROD", 1, "nl", "NL"),
    ("AGLT2", 2, "us", "US"),
    ("MWT2", 2, "us", "US"),
    ("NET2", 2, "us", "US"),
    ("SWT2_CPB", 2, "us", "US"),
    ("OU_OCHEP_SWT2", 2, "us", "US"),
    ("SLACXRD", 2, "us", "US"),
    ("UKI-LT2-QMUL", 2, "gb", "UK"),
    ("UKI-LT2-RHUL", 2, "gb", "UK"),
    ("UKI-NORTHGRID-MAN-HEP", 2, "gb", "UK"),
    ("UKI-NORTHGRID-LANCS-HEP", 2, "gb", "UK"),
    ("UKI-NORTHGRID-LIV-HEP", 2, "gb", "UK"),
    ("UKI-SCOTGRID-GLASGOW", 2, "gb", "UK"),
    ("UKI-SCOTGRID-ECDF", 2, "gb", "UK"),
    ("UKI-SOUTHGRID-OX-HEP", 2, "gb", "UK"),
    ("UKI-SOUTHGRID-RALPP", 2, "gb", "UK"),
    ("UKI-SOUTHGRID-CAM-HEP", 2, "gb", "UK"),
    ("DESY-HH", 2, "de", "DE"),
    ("DESY-ZN", 2, "de", "DE"),
    ("LRZ-LMU", 2, "de", "DE"),
    ("MPPMU", 2, "de", "DE"),
    ("GOEGRID", 2, "de", "DE"),
    ("WUPPERTALPROD", 2, "de", "DE"),
    ("UNI-FREIBURG", 2, "de", "DE"),
    ("PRAGUELCG2", 2, "cz", "DE"),
    ("PSNC", 2, "pl", "DE"),
    ("GRIF-IRFU", 2, "fr", "FR"),
    ("GRIF-LAL", 2, "fr", "FR"),
    ("GRIF-LPNHE", 2, "fr", "FR"),
    ("IN2P3-CPPM", 2, "fr", "FR"),
    ("IN2P3-LAPP", 2, "fr", "FR"),
    ("IN2P3-LPSC", 2, "fr", "FR"),
    ("IN2P3-LPC", 2, "fr", "FR"),
    ("TOKYO-LCG2", 2, "jp", "FR"),
    ("BEIJING-LCG2", 2, "cn", "FR"),
    ("RO-07-NIPNE", 2, "ro", "FR"),
    ("RO-02-NIPNE", 2, "ro", "FR"),
    ("INFN-NAPOLI-ATLAS", 2, "it", "IT"),
    ("INFN-ROMA1", 2, "it", "IT"),
    ("INFN-FRASCATI", 2, "it", "IT"),
    ("INFN-MILANO-ATLASC", 2, "it", "IT"),
    ("IFIC-LCG2", 2, "es", "ES"),
    ("IFAE", 2, "es", "ES"),
    ("UAM-LCG2", 2, "es", "ES"),
    ("LIP-COIMBRA", 2, "pt", "ES"),
    ("NCG-INGRID-PT", 2, "pt", "ES"),
    ("EELA-UTFSM", 2, "cl", "ES"),
    ("SFU-LCG2", 2, "ca", "CA"),
    ("CA-VICTORIA-WESTGRID-T2", 2, "ca", "CA"),
    ("CA-SCINET-T2", 2, "ca", "CA"),
    ("CA-MCGILL-CLUMEQ-T2", 2, "ca", "CA"),
    ("AUSTRALIA-ATLAS", 2, "au", "TW"),
    ("JINR-LCG2", 2, "ru", "NL"),
    ("RU-PROTVINO-IHEP", 2, "ru", "NL"),
    ("TR-10-ULAKBIM", 2, "tr", None),
)

# Synthetic sites: (country, cloud, cities). Named <CC>-<CITY>-T2 / -T3 like CA-SCINET-T2.
_SYNTHETIC_SITES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("us", "US", ("AUSTIN", "BERKELEY", "DALLAS", "IRVINE", "MADISON", "SEATTLE", "TUCSON")),
    ("us", "US", ("NASHVILLE", "ALBANY", "DENVER", "STONYBROOK", "PITTSBURGH")),
    ("de", "DE", ("AACHEN", "BONN", "DRESDEN", "HEIDELBERG", "MAINZ", "SIEGEN", "BERLIN")),
    ("cz", "DE", ("BRNO", "OLOMOUC")),
    ("pl", "DE", ("KRAKOW", "WARSAW")),
    ("at", "DE", ("INNSBRUCK", "VIENNA")),
    ("ch", "DE", ("BERN", "GENEVA", "ZURICH")),
    ("fr", "FR", ("STRASBOURG", "NANTES", "TOULOUSE", "CAEN")),
    ("jp", "FR", ("TSUKUBA", "KYOTO")),
    ("cn", "FR", ("WUHAN", "SHANGHAI")),
    ("ro", "FR", ("CLUJ", "IASI")),
    ("it", "IT", ("PISA", "PADOVA", "GENOVA", "BOLOGNA", "TORINO", "PAVIA", "UDINE", "LECCE")),
    ("es", "ES", ("SANTANDER", "ZARAGOZA", "GRANADA", "SEVILLA")),
    ("pt", "ES", ("BRAGA",)),
    ("cl", "ES", ("VALPARAISO",)),
    ("nl", "NL", ("UTRECHT", "GRONINGEN", "LEIDEN")),
    ("il", "NL", ("TELAVIV", "HAIFA", "REHOVOT")),
    ("gr", "NL", ("ATHENS", "THESSALONIKI")),
    ("gb", "UK", ("BIRMINGHAM", "BRISTOL", "DURHAM", "SHEFFIELD", "SUSSEX", "WARWICK")),
    ("ca", "CA", ("EDMONTON", "OTTAWA", "QUEBEC", "HALIFAX", "WINNIPEG")),
    ("tw", "TW", ("HSINCHU", "TAICHUNG")),
    ("au", "TW", ("MELBOURNE", "SYDNEY", "ADELAIDE")),
    ("dk", "ND", ("COPENHAGEN",)),
    ("no", "ND", ("OSLO", "BERGEN")),
    ("se", "ND", ("UPPSALA", "LUND", "STOCKHOLM")),
    ("fi", "ND", ("HELSINKI",)),
    ("si", "ND", ("LJUBLJANA",)),
    ("ru", "RU", ("MOSCOW", "NOVOSIBIRSK", "TOMSK", "STPETERSBURG")),
)
_N_SITES = 150
_N_SYNTHETIC_T2 = 30  # the first synthetic sites are Tier-2, the rest Tier-3

# Share of the second RAW tape copy per Tier-1 (roughly the Tier-1 pledges).
_T1_TAPE_SHARE = {
    "BNL-OSG2": 0.23,
    "FZK-LCG2": 0.12,
    "IN2P3-CC": 0.12,
    "RAL-LCG2": 0.10,
    "TRIUMF-LCG2": 0.08,
    "INFN-T1": 0.08,
    "SARA-MATRIX": 0.06,
    "NDGF-T1": 0.06,
    "PIC": 0.05,
    "RRC-KI-T1": 0.05,
    "TAIWAN-LCG2": 0.05,
}


@dataclass
class _Grid:
    """Sites and endpoints as parallel arrays plus the lookups placement needs."""

    site_name: list[str]
    site_tier: np.ndarray
    site_country: list[str]
    site_cloud: list[str | None]
    site_status: list[str]
    ep_name: list[str]
    ep_site: np.ndarray
    ep_tape: np.ndarray
    ep_type: list[str]
    datadisk: np.ndarray  # site -> its DATADISK endpoint
    datatape: np.ndarray  # site -> its DATATAPE endpoint or -1
    mctape: np.ndarray  # site -> its MCTAPE endpoint or -1
    cern: int  # site index of CERN-PROD
    t1_tape_sites: np.ndarray  # Tier-1 sites with tape
    t1_tape_p: np.ndarray  # their share of second RAW copies
    disk_eps: np.ndarray  # DATADISK endpoints that may hold new replicas
    disk_p: np.ndarray
    prod_sites: np.ndarray  # sites that may run productions
    prod_p: np.ndarray


def _build_grid() -> _Grid:
    """The ~150 sites and their endpoints; identical for every seed."""
    rng = np.random.Generator(np.random.PCG64(20150201))
    sites = list(_REAL_SITES)
    synthetic: list[tuple[str, int, str, str | None]] = []
    for country, cloud, cities in _SYNTHETIC_SITES:
        for city in cities:
            synthetic.append((f"{country.upper()}-{city}", 0, country, cloud))
    order = rng.permutation(len(synthetic))
    for rank, i in enumerate(order[: _N_SITES - len(sites)]):
        stem, _, country, cloud = synthetic[i]
        tier = 2 if rank < _N_SYNTHETIC_T2 else 3
        sites.append((f"{stem}-T{tier}", tier, country, cloud))
    tier = np.array([s[1] for s in sites], dtype=np.int64)
    status = ["active"] * len(sites)
    candidates = np.flatnonzero(tier >= 2)
    chosen = rng.choice(candidates, size=8, replace=False)
    for i in chosen[:6]:
        status[i] = "down"
    for i in chosen[6:]:
        status[i] = "decommissioned"

    names = [s[0] for s in sites]
    ep_name: list[str] = []
    ep_site: list[int] = []
    ep_type: list[str] = []
    n = len(sites)
    datadisk = np.full(n, -1, dtype=np.int64)
    datatape = np.full(n, -1, dtype=np.int64)
    mctape = np.full(n, -1, dtype=np.int64)
    for i, name in enumerate(names):
        has_tape = tier[i] <= 1 and name != "NIKHEF-ELPROD"
        types = ("DATATAPE", "MCTAPE", "DATADISK", "SCRATCHDISK") if has_tape else ()
        types = types or ("DATADISK", "SCRATCHDISK")
        for t in types:
            index = len(ep_name)
            ep_name.append(f"{name}_{t}")
            ep_site.append(i)
            ep_type.append(t)
            if t == "DATADISK":
                datadisk[i] = index
            elif t == "DATATAPE":
                datatape[i] = index
            elif t == "MCTAPE":
                mctape[i] = index
    ep_tape = np.array([t.endswith("TAPE") for t in ep_type])
    cern = names.index("CERN-PROD")
    t1 = np.array([names.index(s) for s in _T1_TAPE_SHARE], dtype=np.int64)
    t1_p = np.array(list(_T1_TAPE_SHARE.values()))
    alive = np.array([s != "decommissioned" for s in status])
    tier_weight = np.array([4.0, 3.0, 1.0, 0.25])[tier]
    disk_sites = np.flatnonzero(alive)
    disk_w = tier_weight[disk_sites]
    prod_w = np.array([2.0, 3.0, 1.0, 0.2])[tier[disk_sites]]
    return _Grid(
        site_name=names,
        site_tier=tier,
        site_country=[s[2] for s in sites],
        site_cloud=[s[3] for s in sites],
        site_status=status,
        ep_name=ep_name,
        ep_site=np.array(ep_site, dtype=np.int64),
        ep_tape=ep_tape,
        ep_type=ep_type,
        datadisk=datadisk,
        datatape=datatape,
        mctape=mctape,
        cern=cern,
        t1_tape_sites=t1,
        t1_tape_p=t1_p / t1_p.sum(),
        disk_eps=datadisk[disk_sites],
        disk_p=disk_w / disk_w.sum(),
        prod_sites=disk_sites,
        prod_p=prod_w / prod_w.sum(),
    )


# --------------------------------------------------------------------------------------------
# Projects, calibration folders, physics processes
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Project:
    name: str
    mc: bool
    weight: float
    start: int  # data: first day of the data-taking season; MC: campaign start
    end: int
    run_lo: int = 0  # data: run-number range of the year
    run_hi: int = 0
    heavy_ion: bool = False
    conditions: str = ""  # conditions tag of reconstruction / simulation


# Data: (name, first run, last run, season start, season end, weight, conditions tag); the weight
# is roughly the share of runs. MC: (name, campaign start, end, weight, conditions tag).
_DATA_PROJECTS = (
    ("data15_13TeV", 266904, 284484, "2015-06-03", "2015-11-03", 0.5, "CONDBR2-BLKPA-2015-16"),
    ("data15_hi", 286282, 287931, "2015-11-25", "2015-12-13", 0.08, "CONDBR2-BLKPA-2015-16"),
    ("data16_13TeV", 296939, 311481, "2016-04-23", "2016-10-26", 1.2, "CONDBR2-BLKPA-2016-19"),
    ("data17_13TeV", 324320, 341649, "2017-05-16", "2017-11-26", 1.3, "CONDBR2-BLKPA-2017-12"),
    ("data18_13TeV", 348197, 364292, "2018-04-17", "2018-10-24", 1.4, "CONDBR2-BLKPA-2018-14"),
    ("data18_hi", 365498, 367384, "2018-11-08", "2018-12-02", 0.1, "CONDBR2-BLKPA-2018-14"),
    ("data22_13p6TeV", 427394, 440613, "2022-07-05", "2022-11-28", 0.8, "CONDBR2-BLKPA-2022-15"),
    ("data23_13p6TeV", 450227, 456749, "2023-04-22", "2023-07-17", 0.6, "CONDBR2-BLKPA-2023-03"),
    ("data23_hi", 461600, 463427, "2023-09-25", "2023-10-30", 0.08, "CONDBR2-BLKPA-2023-03"),
    ("data24_13p6TeV", 473235, 486706, "2024-04-05", "2024-10-28", 1.3, "CONDBR2-BLKPA-2024-04"),
    ("data24_hi", 488000, 490300, "2024-10-10", "2024-11-20", 0.08, "CONDBR2-BLKPA-2024-04"),
    ("data25_13p6TeV", 494000, 512000, "2025-04-15", "2025-10-31", 1.1, "CONDBR2-BLKPA-2025-02"),
)
_MC_PROJECTS = (
    ("mc15_13TeV", "2015-07-01", "2017-03-31", 0.5, "OFLCOND-MC15c-SDR-09"),
    ("mc16_13TeV", "2016-11-01", "2020-12-31", 1.5, "OFLCOND-MC16-SDR-RUN2-09"),
    ("mc20_13TeV", "2020-09-01", "2024-06-30", 1.6, "OFLCOND-MC16-SDR-RUN2-09"),
    ("mc21_13p6TeV", "2021-10-01", "2022-12-31", 0.3, "OFLCOND-MC21-SDR-RUN3-07"),
    ("mc23_13p6TeV", "2022-10-01", "2025-10-31", 1.4, "OFLCOND-MC23-SDR-RUN3-02"),
)
_PROJECTS: tuple[_Project, ...] = (
    *(
        _Project(n, False, w, _ts(a), _ts(b), lo, hi, heavy_ion="_hi" in n, conditions=c)
        for n, lo, hi, a, b, w, c in _DATA_PROJECTS
    ),
    *(_Project(n, True, w, _ts(a), _ts(b), conditions=c) for n, a, b, w, c in _MC_PROJECTS),
)
_PROJECT_INDEX = {p.name: i for i, p in enumerate(_PROJECTS)}
_RUN2_PROJECTS = (
    *("data15_13TeV", "data15_hi", "data16_13TeV", "data17_13TeV", "data18_13TeV", "data18_hi"),
    *("mc15_13TeV", "mc16_13TeV", "mc20_13TeV"),
)
_DATA_P = np.array([i for i, p in enumerate(_PROJECTS) if not p.mc])
_MC_P = np.array([i for i, p in enumerate(_PROJECTS) if p.mc])
_REPROCESSING_CONDITIONS = ("CONDBR2-BLKPA-RUN2-09", "CONDBR2-BLKPA-RUN3-05")

# (stream, probability that a run has it); the first stream of each list is always there.
_PP_STREAMS = (
    ("physics_Main", 1.0),
    ("express_express", 0.9),
    ("physics_MinBias", 0.35),
    ("physics_ZeroBias", 0.3),
    ("physics_CosmicCalo", 0.25),
    ("physics_BphysLS", 0.2),
    ("physics_Late", 0.15),
)
_HI_STREAMS = (
    ("physics_HardProbes", 1.0),
    ("express_express", 0.9),
    ("physics_MinBias", 0.8),
    ("physics_UPC", 0.6),
)
_STREAMS = tuple(dict.fromkeys(s for s, _ in _PP_STREAMS + _HI_STREAMS))

_FOLDERS = (
    "LArPedestals",
    "LArRamps",
    "LArOFCs",
    "LArAutoCorr",
    "LArHVScale",
    "LArBadChannels",
    "TileCesium",
    "TileLaser",
    "TileCIS",
    "TileTiming",
    "PixelCalib",
    "PixelDeadMap",
    "PixelDistortions",
    "SCTNoise",
    "SCTConditions",
    "TRTRt",
    "TRTT0",
    "TRTStraws",
    "InDetAlign",
    "MuonAlign",
    "MDTRt",
    "MDTT0",
    "RPCEfficiency",
    "TGCTiming",
    "CSCPedestals",
    "CaloNoise",
    "CaloCellTimes",
    "BeamSpot",
    "LumiCalib",
    "TrigL1Calo",
    "AFPAlign",
    "ZDCCalib",
    "LUCIDCalib",
    "BCMStatus",
    "JetCalib",
    "EGammaCalib",
    "MuonCalib",
    "TauCalib",
    "FlavourTagCalib",
    "DQStatus",
)

_SKIM_FORMATS = (
    "DAOD_FTAG1",
    "DAOD_JETM1",
    "DAOD_EGAM1",
    "DAOD_MUON1",
    "DAOD_HIGG1D1",
    "DAOD_SUSY2",
    "DAOD_EXOT5",
    "DAOD_TOPQ1",
    "DAOD_STDM4",
    "DAOD_BPHY1",
    "DAOD_LLP1",
    "DAOD_PHYSVAL",
)

# Pile-up (minimum-bias) samples overlaid in digitization; their DSIDs are kept out of signal MC.
_PILEUP_DSIDS = (361238, 361239)
_PILEUP_SHORT = (
    "Pythia8EvtGen_A3NNPDF23LO_minbias_inelastic_low",
    "Pythia8EvtGen_A3NNPDF23LO_minbias_inelastic_high",
)
_DSID_LO, _DSID_HI = 300000, 1000000

_GENERATORS = (
    ("PhPy8EG", "A14"),
    ("PowhegPythia8EvtGen", "AZNLOCTEQ6L1"),
    ("Sherpa_222_NNPDF30NNLO", ""),
    ("Sh_2211", ""),
    ("MGPy8EG", "A14N23LO"),
    ("aMcAtNloPy8EG", "A14"),
    ("Py8EG", "A14NNPDF23LO"),
    ("PhH7EG", "H7UE"),
    ("MGH7EG", "H7UE"),
)
_PROCESSES = (
    "ttbar_hdamp258p75_nonallhad",
    "ttbar_hdamp258p75_dil",
    "ttbar_hdamp258p75_SingleLep",
    "Zee",
    "Zmumu",
    "Ztautau",
    "Wenu",
    "Wmunu",
    "Wtaunu",
    "ggH125_gamgam",
    "ggH125_ZZ4lep",
    "VBFH125_WWlvlv",
    "ttH125_bb",
    "tchan_lept_top",
    "Wt_DR_dilepton_top",
    "ZqqZvv",
    "WlvZqq",
    "jetjet_JZ{a}",
    "Zprime{m}",
    "GG_direct_{m}_{n}",
    "TT_directTT_{m}_{n}",
    "C1N2_WZ_{m}_{n}",
    "HVT_Agv1_VcWZ_lvqq_m{m}",
    "RS_G_ZZ_llqq_c10_m{m}",
    "Zee_MAXHTPTV{a}0_BFilter",
    "ttW_EW",
    "tZq_Zll_4fl",
    "single_photon_pT{a}0",
)


def _physics_short(dsid: int) -> str:
    """A plausible physics short name, a fixed function of the DSID (like AMI's)."""
    gen, tune = _GENERATORS[dsid % len(_GENERATORS)]
    process = _PROCESSES[(dsid // 9) % len(_PROCESSES)].format(
        a=dsid % 10, m=400 + (dsid // 7 % 40) * 100, n=(dsid // 11 % 20) * 50
    )
    return f"{gen}_{tune}_{process}" if tune else f"{gen}_{process}"


# --------------------------------------------------------------------------------------------
# Transformations
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Pool:
    """A family of transformations (AMI tags of one letter and one transform)."""

    letter: str
    name: str
    share: float
    ratio: float | None  # output bytes per input byte; None for generation (no input)
    cpu: tuple[float, float]  # cpu seconds per event
    conditions: bool  # whether its productions record a conditions tag


_POOLS: dict[str, _Pool] = {
    "gen": _Pool("e", "Gen_tf", 0.16, None, (0.01, 8.0), False),
    "sim": _Pool("s", "Sim_tf", 0.06, 10.0, (150.0, 600.0), True),
    "hitsmerge": _Pool("s", "HITSMerge_tf", 0.02, 1.0, (0.02, 0.1), False),
    "digi": _Pool("d", "Digi_tf", 0.03, 2.0, (8.0, 30.0), True),
    "reco_mc": _Pool("r", "Reco_tf", 0.07, 0.5, (20.0, 60.0), True),
    "reco_mc_rdo": _Pool("r", "Reco_tf", 0.04, 0.25, (10.0, 40.0), True),
    "aodmerge_mc": _Pool("r", "AODMerge_tf", 0.02, 1.0, (0.02, 0.1), False),
    "reco_data_r": _Pool("r", "Reco_tf", 0.06, 0.5, (15.0, 45.0), True),
    "reco_data_f": _Pool("f", "Reco_tf", 0.05, 0.5, (15.0, 45.0), True),
    "merge_data": _Pool("m", "AODMerge_tf", 0.03, 1.0, (0.02, 0.1), True),
    "deriv_phys": _Pool("p", "Derivation_tf", 0.22, 0.1, (0.5, 2.0), False),
    "deriv_lite": _Pool("p", "Derivation_tf", 0.16, 0.2, (0.2, 1.0), False),
    "deriv_skim": _Pool("p", "Derivation_tf", 0.06, 0.1, (0.3, 1.5), False),
    "opendata": _Pool("p", "Derivation_tf", 0.02, 0.3, (0.1, 0.5), False),
}
_POOL_NAMES = tuple(_POOLS)
_TAG_RANGES = {
    "e": (3601, 8600),
    "s": (2608, 4500),
    "d": (1500, 2000),
    "r": (7267, 16100),
    "f": (380, 1650),
    "m": (870, 2300),
    "p": (2500, 6900),
}
# Software eras by position of a tag in its letter's range: (upper quantile, major release).
_ERAS = ((0.45, 21), (0.65, 22), (0.78, 23), (0.93, 24), (1.01, 25))
_PLATFORMS = {
    21: "x86_64-centos7-gcc62-opt",
    22: "x86_64-centos7-gcc11-opt",
    23: "x86_64-centos7-gcc11-opt",
    24: "x86_64-el9-gcc13-opt",
    25: "x86_64-el9-gcc13-opt",
}
_CODE_REPO = "https://gitlab.cern.ch/atlas/athena.git"


@dataclass
class _Transformations:
    tag: list[str]
    name: list[str]
    release: list[str]
    image: list[str]
    digest: list[str | None]
    commit: list[str]
    command: list[str]
    platform: list[str]
    cpu: np.ndarray
    ratio: np.ndarray  # NaN for generation
    pools: list[np.ndarray]  # pool index -> transformation indices, oldest tag first
    undigested: np.ndarray  # transformations planted without an image digest


def _release(pool: str, major: int, patch: int) -> tuple[str, str]:
    """(release, image) for a transformation of ``pool`` in software generation ``major``."""
    if pool == "gen":
        project, version = "AthGeneration", f"{21 if major <= 22 else 23}.6.{patch}"
    elif major == 21 and pool.startswith("deriv"):
        project, version = "AthDerivation", f"21.2.{patch}"
    elif major == 21 and pool == "sim":
        project, version = "AthSimulation", f"21.0.{patch}"
    else:
        project, version = "Athena", f"{major}.0.{patch}"
    return f"{project},{version}", f"registry.cern.ch/atlas/{project.lower()}:{version}"


def _build_transformations(rng: np.random.Generator, n_datasets: int) -> _Transformations:
    """AMI-style tags: unique numbers per letter, spread over the letter's historical range.

    Within a letter the pools share one draw of unique numbers, so ``r`` tags of Reco_tf and
    AODMerge_tf never collide. Release, image and platform follow the tag number (newer tags,
    newer software); the image digest and code commit are a function of the release, as they are
    for real container images.
    """
    n_total = max(60, round(n_datasets / 400))
    shares = np.array([p.share for p in _POOLS.values()])
    counts = np.maximum(1, np.round(shares / shares.sum() * n_total).astype(np.int64))
    pool_of: list[int] = []
    number: list[int] = []
    quantile: list[float] = []
    for letter in dict.fromkeys(p.letter for p in _POOLS.values()):
        members = [i for i, p in enumerate(_POOLS.values()) if p.letter == letter]
        c = int(counts[members].sum())
        lo, hi = _TAG_RANGES[letter]
        hi = max(hi, lo + 2 * c)
        numbers = np.sort(rng.choice(hi - lo, size=c, replace=False)) + lo
        labels = rng.permutation(np.repeat(members, counts[members]))
        pool_of.extend(labels.tolist())
        number.extend(numbers.tolist())
        quantile.extend((np.arange(c) / max(c - 1, 1)).tolist())
    n = len(number)
    tag: list[str] = []
    name: list[str] = []
    release: list[str] = []
    image: list[str] = []
    command: list[str] = []
    platform: list[str] = []
    eras = np.array([e[0] for e in _ERAS])
    for i in range(n):
        pool_name = _POOL_NAMES[pool_of[i]]
        pool = _POOLS[pool_name]
        t = f"{pool.letter}{number[i]}"
        era = int(np.searchsorted(eras, quantile[i], side="right"))
        era = min(era, len(_ERAS) - 1)
        lower = _ERAS[era - 1][0] if era else 0.0
        within = (quantile[i] - lower) / (_ERAS[era][0] - lower)
        major = _ERAS[era][1]
        rel, img = _release(pool_name, major, 1 + int(within * 110))
        cmd = f"{pool.name}.py --AMIConfig={t}"
        tag.append(t)
        name.append(pool.name)
        release.append(rel)
        image.append(img)
        command.append(cmd)
        platform.append(_PLATFORMS[major])
    unique_releases = sorted(set(release))
    raw = rng.bytes(52 * len(unique_releases))
    digest_of = {}
    commit_of = {}
    for k, rel in enumerate(unique_releases):
        chunk = raw[52 * k : 52 * (k + 1)]
        digest_of[rel] = "sha256:" + chunk[:32].hex()
        commit_of[rel] = chunk[32:].hex()
    lo_cpu = np.array([_POOLS[_POOL_NAMES[p]].cpu[0] for p in pool_of])
    hi_cpu = np.array([_POOLS[_POOL_NAMES[p]].cpu[1] for p in pool_of])
    cpu = np.round(np.exp(rng.uniform(np.log(lo_cpu), np.log(hi_cpu))), 4)
    nominal = np.array([_POOLS[_POOL_NAMES[p]].ratio or np.nan for p in pool_of], dtype=np.float64)
    ratio = np.round(nominal * rng.uniform(0.8, 1.2, n), 4)
    undigested = np.sort(rng.choice(n, size=max(1, round(0.01 * n)), replace=False))
    digest: list[str | None] = [digest_of[r] for r in release]
    for i in undigested:
        digest[i] = None
    pool_arr = np.array(pool_of)
    number_arr = np.array(number)
    pools = []
    for p in range(len(_POOLS)):
        members = np.flatnonzero(pool_arr == p)
        pools.append(members[np.argsort(number_arr[members], kind="stable")])
    return _Transformations(
        tag=tag,
        name=name,
        release=release,
        image=image,
        digest=digest,
        commit=[commit_of[r] for r in release],
        command=command,
        platform=platform,
        cpu=cpu,
        ratio=ratio,
        pools=pools,
        undigested=undigested,
    )


# --------------------------------------------------------------------------------------------
# Chain templates
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Node:
    """One dataset of a chain template and the production that makes it.

    ``parents`` are indices of earlier nodes of the same template (the first is the primary input
    whose tags the name extends; several parents make a merge). ``part`` marks the two halves of
    a split task: they share one tag and their names carry ``_tid<task>_00``. ``train`` makes
    the node a second output of an earlier node's production (one derivation task writing
    DAOD_PHYS and a skimmed format from the same AOD), which is how real derivation trains keep
    the number of tasks down.
    """

    step: str
    data_type: str
    parents: tuple[int, ...] = ()
    pool: str | None = None
    kind: str = "derived"
    profile: str = "analysis"
    part: int = -1
    calibration: bool = False
    pileup: bool = False
    config: float = 0.0
    delay: tuple[float, float] = (0.5, 30.0)  # days from inputs ready to production start
    hours: tuple[float, float] = (4.0, 72.0)  # production duration
    skim: tuple[float, float] = (1.0, 1.0)  # fraction of input events (and bytes) kept
    train: int = -1  # made by the production of this earlier node (a derivation train)


@dataclass(frozen=True)
class _Template:
    name: str
    nodes: tuple[_Node, ...]
    min_keep: int = 2


def _data_templates() -> dict[str, _Template]:
    raw = _Node("daq", "RAW", kind="raw", profile="raw")
    prompt = {
        "pool": "reco_data_f",
        "calibration": True,
        "config": 0.1,
        "delay": (0.05, 3.0),
        "hours": (4.0, 48.0),
    }
    phys = {"pool": "deriv_phys"}
    lite = {"pool": "deriv_lite"}
    skim = {"pool": "deriv_skim", "skim": (0.05, 0.6)}
    opendata = {
        "pool": "opendata",
        "kind": "outreach",
        "profile": "outreach",
        "skim": (0.1, 0.6),
        "delay": (30.0, 400.0),
    }
    reproc = {
        "pool": "reco_data_r",
        "calibration": True,
        "config": 0.2,
        "profile": "archive",
        "delay": (120.0, 1500.0),
        "hours": (24.0, 240.0),
    }
    tier0 = _Template(
        "data-tier0",
        (
            raw,
            _Node("recon", "AOD", (0,), part=0, profile="transient", **prompt),
            _Node("recon", "AOD", (0,), part=1, profile="transient", **prompt),
            _Node(
                "merge",
                "AOD",
                (1, 2),
                "merge_data",
                profile="archive",
                delay=(0.02, 2.0),
                hours=(1.0, 12.0),
            ),
            _Node("deriv", "DAOD_PHYS", (3,), **phys),
            _Node("deriv", "DAOD_PHYSLITE", (4,), **lite),
            _Node("deriv", "DAOD_*", (3,), "deriv_phys", skim=(0.05, 0.6), train=4),
        ),
    )
    reprocessed_nodes = (
        raw,
        _Node("recon", "AOD", (0,), **reproc),
        _Node("deriv", "DAOD_PHYS", (1,), **phys),
        _Node("deriv", "DAOD_PHYSLITE", (2,), **lite),
        _Node("deriv", "DAOD_*", (1,), "deriv_phys", skim=(0.05, 0.6), train=2),
    )
    reprocessed = _Template("data-reprocessed", reprocessed_nodes)
    opendata_t = _Template(
        "data-opendata",
        (*reprocessed_nodes, _Node("deriv", "NTUP_OPENDATA", (3,), **opendata)),
    )
    express = _Template(
        "data-express",
        (
            raw,
            _Node("recon", "AOD", (0,), profile="transient", **prompt),
            _Node("deriv", "DAOD_*", (1,), **skim),
        ),
        min_keep=1,
    )
    return {t.name: t for t in (tier0, reprocessed, opendata_t, express)}


def _mc_templates() -> dict[str, _Template]:
    mc = {"kind": "simulated"}
    evnt = _Node(
        "evgen",
        "EVNT",
        (),
        "gen",
        profile="archive",
        config=0.25,
        delay=(0.0, 5.0),
        hours=(2.0, 72.0),
        **mc,
    )
    sim = {"pool": "sim", "delay": (1.0, 30.0), "hours": (24.0, 336.0), "config": 0.05, **mc}
    hits_part = [_Node("simul", "HITS", (0,), part=k, profile="transient", **sim) for k in (0, 1)]
    hits_merge = _Node(
        "merge",
        "HITS",
        (1, 2),
        "hitsmerge",
        profile="archive",
        delay=(0.1, 3.0),
        hours=(1.0, 24.0),
        **mc,
    )
    reco = {"config": 0.1, "delay": (0.5, 30.0), "hours": (12.0, 120.0), **mc}
    phys = {"pool": "deriv_phys", **mc}
    lite = {"pool": "deriv_lite", **mc}
    skim = {"pool": "deriv_phys", "skim": (0.05, 0.6), **mc}

    def opendata(parent: int) -> _Node:
        return _Node(
            "deriv",
            "NTUP_OPENDATA",
            (parent,),
            "opendata",
            kind="outreach",
            profile="outreach",
            skim=(0.1, 0.6),
            delay=(30.0, 400.0),
        )

    full_nodes = (
        evnt,
        *hits_part,
        hits_merge,
        _Node(
            "digit",
            "RDO",
            (3,),
            "digi",
            profile="transient",
            pileup=True,
            delay=(1.0, 60.0),
            hours=(12.0, 120.0),
            **mc,
        ),
        _Node("recon", "AOD", (4,), "reco_mc_rdo", profile="archive", **reco),
        _Node("deriv", "DAOD_PHYS", (5,), **phys),
        _Node("deriv", "DAOD_PHYSLITE", (6,), **lite),
    )
    full = _Template("mc-full", full_nodes)
    full_o = _Template("mc-full-opendata", (*full_nodes, opendata(7)))
    fast = _Template(
        "mc-fast",
        (
            evnt,
            _Node("simul", "HITS", (0,), profile="archive", **sim),
            _Node("recon", "AOD", (1,), "reco_mc", profile="archive", pileup=True, **reco),
            _Node("deriv", "DAOD_PHYS", (2,), **phys),
            _Node("deriv", "DAOD_PHYSLITE", (3,), **lite),
            _Node("deriv", "DAOD_*", (2,), train=3, **skim),
        ),
    )
    merged_nodes = (
        evnt,
        _Node("simul", "HITS", (0,), profile="archive", **sim),
        *[
            _Node("recon", "AOD", (1,), "reco_mc", profile="transient", part=k, pileup=True, **reco)
            for k in (0, 1)
        ],
        _Node(
            "merge",
            "AOD",
            (2, 3),
            "aodmerge_mc",
            profile="archive",
            delay=(0.1, 3.0),
            hours=(1.0, 24.0),
            **mc,
        ),
        _Node("deriv", "DAOD_PHYS", (4,), **phys),
        _Node("deriv", "DAOD_PHYSLITE", (5,), **lite),
        _Node("deriv", "DAOD_*", (4,), train=5, **skim),
    )
    merged = _Template("mc-merged", merged_nodes)
    merged_o = _Template("mc-merged-opendata", (*merged_nodes, opendata(6)))
    pileup = _Template("mc-pileup", (evnt, *hits_part, hits_merge), min_keep=4)
    return {t.name: t for t in (full, full_o, fast, merged, merged_o, pileup)}


_KINDS = ("raw", "calibration", "derived", "simulated", "metadata", "outreach")
_STEPS = ("daq", "recon", "merge", "deriv", "evgen", "simul", "digit")
_DTYPES = (
    *("RAW", "AOD", "DAOD_PHYS", "DAOD_PHYSLITE", "NTUP_OPENDATA", "EVNT", "HITS", "RDO"),
    *("COND", "DBRelease", *_SKIM_FORMATS),
)
_SKIM0 = _DTYPES.index(_SKIM_FORMATS[0])
_PROFILES = ("raw", "calibration", "metadata", "archive", "transient", "analysis", "outreach")
_DATASET_STATES = ("open", "closed", "deleted", "lost")
_REPLICA_STATES = ("available", "copying", "unavailable", "lost", "deleted")
_ROLES = ("input", "calibration", "config", "output")
_NO_CHILD = 1 << 20


@dataclass
class _Compiled:
    """All template nodes flattened into arrays indexed by a global node number."""

    names: list[str]
    base: np.ndarray  # template -> global number of its first node
    length: np.ndarray
    min_keep: np.ndarray
    step: np.ndarray
    dtype: np.ndarray  # index into _DTYPES, -1 for a skim format drawn per dataset
    pool: np.ndarray  # index into _POOL_NAMES, -1 for RAW (no production)
    kind: np.ndarray
    profile: np.ndarray
    part: np.ndarray
    calibration: np.ndarray
    pileup: np.ndarray
    config: np.ndarray
    delay: np.ndarray  # (G, 2) days
    hours: np.ndarray  # (G, 2)
    skim: np.ndarray  # (G, 2)
    train: np.ndarray  # local index of the node whose production also makes this one, or -1
    parent: np.ndarray  # (G, 2) local parent indices, -1 when absent
    sibling: np.ndarray  # local index of part 0 for part-1 nodes, else -1
    child_min: np.ndarray  # local index of the first child, _NO_CHILD for a leaf node


def _compile(templates: Sequence[_Template]) -> _Compiled:
    nodes: list[_Node] = []
    base, length, local_parent, sibling, child_min = [], [], [], [], []
    for t in templates:
        base.append(len(nodes))
        length.append(len(t.nodes))
        for j, node in enumerate(t.nodes):
            assert all(p < j for p in node.parents), "parents must come first"
            assert len(node.parents) <= 2, "at most two parents"
            local_parent.append(list(node.parents) + [-1] * (2 - len(node.parents)))
            part0 = [k for k, other in enumerate(t.nodes) if other.part == 0 and k < j]
            sibling.append(part0[-1] if node.part == 1 else -1)
            children = [k for k, other in enumerate(t.nodes) if j in other.parents]
            child_min.append(min(children) if children else _NO_CHILD)
        nodes.extend(t.nodes)

    def arr(values: Sequence[float | int | bool], dtype: type = np.int64) -> np.ndarray:
        return np.array(values, dtype=dtype)

    return _Compiled(
        names=[t.name for t in templates],
        base=arr(base),
        length=arr(length),
        min_keep=arr([t.min_keep for t in templates]),
        step=arr([_STEPS.index(n.step) for n in nodes]),
        dtype=arr([_DTYPES.index(n.data_type) if n.data_type in _DTYPES else -1 for n in nodes]),
        pool=arr([_POOL_NAMES.index(n.pool) if n.pool else -1 for n in nodes]),
        kind=arr([_KINDS.index(n.kind) for n in nodes]),
        profile=arr([_PROFILES.index(n.profile) for n in nodes]),
        part=arr([n.part for n in nodes]),
        calibration=arr([n.calibration for n in nodes], bool),
        pileup=arr([n.pileup for n in nodes], bool),
        config=arr([n.config for n in nodes], np.float64),
        delay=arr([n.delay for n in nodes], np.float64),
        hours=arr([n.hours for n in nodes], np.float64),
        skim=arr([n.skim for n in nodes], np.float64),
        train=arr([n.train for n in nodes]),
        parent=arr(local_parent),
        sibling=arr(sibling),
        child_min=arr(child_min),
    )


# Template mixes: (template, weight). Run-2 data was reprocessed in 2020-2021 (r-tags); Run-3 data
# is mostly used straight from Tier-0 (f/m tags). Streams other than the main one get the short
# express chain.
_RUN2_MAIN = (("data-tier0", 0.30), ("data-reprocessed", 0.66), ("data-opendata", 0.04))
_RUN3_MAIN = (("data-tier0", 0.80), ("data-reprocessed", 0.18), ("data-opendata", 0.02))
_MC_MIX = (
    ("mc-full", 0.28),
    ("mc-full-opendata", 0.02),
    ("mc-fast", 0.45),
    ("mc-merged", 0.22),
    ("mc-merged-opendata", 0.03),
)
_P_FULL_CHAIN = 0.75  # otherwise a chain stops early (not yet derived, or abandoned)
_SHARES = {"raw": 0.15, "calibration": 0.02, "metadata": 0.01}


@dataclass
class _Units:
    """Chain instances: one per RAW (run, stream) or per MC sample (project, DSID)."""

    template: np.ndarray
    keep: np.ndarray  # how many nodes of the template exist (always a prefix)
    project: np.ndarray
    run: np.ndarray  # data: run number; MC: -1
    stream: np.ndarray  # data: index into _STREAMS; MC: -1
    dsid: np.ndarray  # MC: DSID; data: -1
    t0: np.ndarray  # data: end of the run; MC: request time
    share: np.ndarray  # event share of part 0 of a split task

    def take(self, index: np.ndarray) -> _Units:
        return _Units(*(getattr(self, f)[index] for f in self.__dataclass_fields__))

    @staticmethod
    def concat(parts: Sequence[_Units]) -> _Units:
        return _Units(
            *(np.concatenate([getattr(p, f) for p in parts]) for f in _Units.__dataclass_fields__)
        )

    def __len__(self) -> int:
        return len(self.template)


class _Builder:
    """Draws the whole catalog as numpy columns; see the module docstring for the shape."""

    def __init__(self, n: int, seed: int, progress: ProgressCallback | None) -> None:
        self.n = n
        self.rng = np.random.Generator(np.random.PCG64(seed))
        self._progress = progress
        self._step = 0
        templates = [*_data_templates().values(), *_mc_templates().values()]
        self.c = _compile(templates)
        self.tpl = {name: i for i, name in enumerate(self.c.names)}

    # progress ------------------------------------------------------------------------------
    _BUILD_STEPS = 9

    def tick(self) -> None:
        self._step += 1
        if self._progress is not None:
            self._progress("build", self._step, self._BUILD_STEPS)

    # helpers -------------------------------------------------------------------------------
    def loguniform(self, lo: np.ndarray | float, hi: np.ndarray | float, n: int) -> np.ndarray:
        lo = np.asarray(lo, dtype=np.float64) + 0.01
        hi = np.asarray(hi, dtype=np.float64) + 0.01
        return np.exp(self.rng.uniform(np.log(lo), np.log(hi), n)) - 0.01

    def mix(self, mix: Sequence[tuple[str, float]], n: int) -> np.ndarray:
        ids = np.array([self.tpl[name] for name, _ in mix])
        p = np.array([w for _, w in mix])
        return ids[self.rng.choice(len(ids), size=n, p=p / p.sum())]

    def keep_counts(self, template: np.ndarray) -> np.ndarray:
        length = self.c.length[template]
        lo = np.minimum(self.c.min_keep[template], length)
        partial = self.rng.integers(lo, np.maximum(length, lo + 1))
        full = self.rng.random(len(template)) < _P_FULL_CHAIN
        return np.where(full | (lo >= length), length, np.minimum(partial, length))

    # build ---------------------------------------------------------------------------------
    def build(self) -> tuple[dict[str, dict[str, object]], dict[str, int]]:
        rng = self.rng
        n = self.n
        self.grid = _build_grid()
        self.tr = _build_transformations(rng, n)
        self.tick()

        self.n_calib = round(_SHARES["calibration"] * n)
        self.n_meta = round(_SHARES["metadata"] * n)
        pileup = self.pileup_units() if n >= 1000 else None
        n_pileup = int(pileup.keep.sum()) if pileup is not None else 0
        budget = n - self.n_calib - self.n_meta - n_pileup
        main = self.main_units(budget)
        self.tick()

        self.alloc()
        self.metadata()
        self.calibration()
        self.tick()
        position = self.n_calib + self.n_meta
        self.pileup_hits = np.full((len(_PROJECTS), 2), -1, dtype=np.int64)
        units = [pileup, main] if pileup is not None else [main]
        self.units = _Units.concat(units)
        if pileup is not None:
            # the merged HITS is the last node of the pile-up template
            hits = self.grow(np.arange(len(pileup)), position) + 3
            self.pileup_hits[pileup.project, np.arange(len(pileup)) % 2] = hits
            position += n_pileup
        self.grow(np.arange(len(self.units) - len(main), len(self.units)), position)
        assert position + int(main.keep.sum()) == n
        self.tick()

        self.finish_productions()
        self.tick()
        self.name_datasets()
        self.tick()
        self.states_and_lifetimes()
        self.replicas()
        self.tick()
        self.pins()
        self.tick()
        tables = self.tables()
        self.tick()
        return tables, self.planted

    # units ---------------------------------------------------------------------------------
    def pileup_units(self) -> _Units:
        rng = self.rng
        mc = np.repeat(_MC_P, 2)
        k = len(mc)
        start = np.array([_PROJECTS[p].start for p in mc])
        template = np.full(k, self.tpl["mc-pileup"])
        return _Units(
            template=template,
            keep=self.c.length[template],
            project=mc,
            run=np.full(k, -1),
            stream=np.full(k, -1),
            dsid=np.tile(np.array(_PILEUP_DSIDS), len(_MC_P)),
            t0=start + rng.integers(0, 20 * _DAY, k),
            share=rng.uniform(0.35, 0.65, k),
        )

    def data_units(self, target_raw: float) -> _Units:
        """(run, stream) units per data project, runs drawn from the year's run-number range."""
        rng = self.rng
        weights = np.array([_PROJECTS[p].weight for p in _DATA_P])
        parts = []
        for p, w in zip(_DATA_P, weights / weights.sum(), strict=True):
            proj = _PROJECTS[p]
            streams = _HI_STREAMS if proj.heavy_ion else _PP_STREAMS
            prob = np.array([s[1] for s in streams])
            n_runs = math.ceil(target_raw * w / prob.sum()) + 1
            span = proj.run_hi - proj.run_lo
            if n_runs <= span:
                runs = np.sort(rng.choice(span, size=n_runs, replace=False)) + proj.run_lo
            else:
                runs = proj.run_lo + np.arange(n_runs)
            has = rng.random((n_runs, len(streams))) < prob
            has[:, 0] = True
            run_i, stream_i = np.nonzero(has)
            k = len(run_i)
            frac = np.clip((runs[run_i] - proj.run_lo) / max(span, 1), 0.0, 1.0)
            t_run = proj.start + frac * (proj.end - proj.start)
            t0 = np.minimum(t_run + rng.uniform(0, 1.5 * _DAY, k), proj.end).astype(np.int64)
            main = _RUN2_MAIN if proj.name in _RUN2_PROJECTS else _RUN3_MAIN
            template = np.where(stream_i == 0, self.mix(main, k), self.tpl["data-express"])
            stream_names = [s[0] for s in streams]
            global_stream = np.array([_STREAMS.index(s) for s in stream_names])[stream_i]
            parts.append(
                _Units(
                    template=template,
                    keep=self.keep_counts(template),
                    project=np.full(k, p),
                    run=runs[run_i],
                    stream=global_stream,
                    dsid=np.full(k, -1),
                    t0=t0,
                    share=rng.uniform(0.35, 0.65, k),
                )
            )
        return _Units.concat(parts)

    def mc_units(self, k: int) -> _Units:
        """MC samples: unique (project, DSID), requested at a random time of the campaign."""
        rng = self.rng
        weights = np.array([_PROJECTS[p].weight for p in _MC_P])
        counts = rng.multinomial(k, weights / weights.sum())
        project = np.repeat(_MC_P, counts)
        dsid = np.empty(k, dtype=np.int64)
        skip_at = _PILEUP_DSIDS[0] - _DSID_LO
        pool = _DSID_HI - _DSID_LO - len(_PILEUP_DSIDS)
        offset = 0
        for c in counts:
            draw = rng.choice(pool, size=int(c), replace=False)
            draw = draw + np.where(draw >= skip_at, len(_PILEUP_DSIDS), 0)
            dsid[offset : offset + c] = draw + _DSID_LO
            offset += c
        start = np.array([_PROJECTS[p].start for p in project])
        end = np.array([_PROJECTS[p].end for p in project])
        template = self.mix(_MC_MIX, k)
        return _Units(
            template=template,
            keep=self.keep_counts(template),
            project=project,
            run=np.full(k, -1),
            stream=np.full(k, -1),
            dsid=dsid,
            t0=rng.integers(start, end),
            share=rng.uniform(0.35, 0.65, k),
        )

    def main_units(self, budget: int) -> _Units:
        """Data and MC units in the proportion that makes RAW ~15 % of all datasets.

        Draw more units than needed, shuffle data and MC together, and keep the prefix that
        fills the budget exactly: the last unit kept may lose its last nodes, which keeps it a
        closed chain (nodes only point at earlier nodes). Kept units are then ordered by time.
        """
        rng = self.rng
        target_raw = max(_SHARES["raw"] * self.n, 1.0)
        data = self.data_units(target_raw * 1.25)
        kept_fraction = target_raw / len(data)
        mc_datasets = max(budget / kept_fraction - int(data.keep.sum()), 0.0)
        mix_w = np.array([w for _, w in _MC_MIX])
        mix_len = np.array([self.c.length[self.tpl[name]] for name, _ in _MC_MIX])
        expected = float(
            (
                mix_w
                / mix_w.sum()
                * (_P_FULL_CHAIN * mix_len + (1 - _P_FULL_CHAIN) * (mix_len + 1) / 2)
            ).sum()
        )
        units = _Units.concat([data, self.mc_units(math.ceil(mc_datasets / expected) + 1)])
        while int(units.keep.sum()) < budget:
            units = _Units.concat([units, self.mc_units(max(16, budget // 4))])
        units = units.take(rng.permutation(len(units)))
        total = np.cumsum(units.keep)
        last = int(np.searchsorted(total, budget))  # first unit reaching the budget
        units = units.take(np.arange(last + 1))
        units.keep[last] = budget - (int(total[last - 1]) if last else 0)
        return units.take(np.argsort(units.t0, kind="stable"))

    # datasets ------------------------------------------------------------------------------
    def alloc(self) -> None:
        n = self.n
        self.kind = np.zeros(n, dtype=np.int8)
        self.dtype = np.zeros(n, dtype=np.int16)
        self.step = np.full(n, -1, dtype=np.int8)
        self.project = np.full(n, -1, dtype=np.int16)
        self.run = np.full(n, -1, dtype=np.int64)
        self.dsid = np.full(n, -1, dtype=np.int64)
        self.bytes = np.zeros(n, dtype=np.int64)
        self.events = np.full(n, -1, dtype=np.int64)
        self.created = np.zeros(n, dtype=np.int64)
        self.profile = np.zeros(n, dtype=np.int8)
        self.unit = np.full(n, -1, dtype=np.int64)
        self.node = np.full(n, -1, dtype=np.int64)
        self.ppar = np.full(n, -1, dtype=np.int64)
        self.part = np.full(n, -1, dtype=np.int8)
        self.ds_tr = np.full(n, -1, dtype=np.int64)
        self.ds_prod = np.full(n, -1, dtype=np.int64)
        self.names: list[str] = []  # calibration and metadata names, in dataset order
        self.prod_parts: list[dict[str, np.ndarray]] = []
        self.io_parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.n_prod = 0

    def metadata(self) -> None:
        """DBRelease datasets (role ``config``), spread evenly over 2015-2025."""
        k = self.n_meta
        first = self.n_calib
        created = np.sort(self.rng.integers(_EPOCH, _NOW - 30 * _DAY, k))
        sl = slice(first, first + k)
        self.meta_created = created
        self.meta_first = first
        self.kind[sl] = _KINDS.index("metadata")
        self.dtype[sl] = _DTYPES.index("DBRelease")
        self.profile[sl] = _PROFILES.index("metadata")
        self.created[sl] = created
        self.bytes[sl] = self.rng.integers(200_000_000, 1_500_000_000, k)
        self.meta_names = [
            f"ddo:ddo.{i + 1:06d}.Atlas.Ideal.DBRelease.v{10 + i // 2500}{i // 50 % 50:02d}{i % 50:02d}"
            for i in range(k)
        ]

    def calibration(self) -> None:
        """Conditions folders per project and run block, each in 1..n versions.

        A series is (project, block, folder); its versions are datasets
        ``calib:calib.<project>.<block start run>.<folder>.COND.v<NNNN>`` created some days
        apart. Series are laid out sorted by (project, block start) so reconstruction finds the
        block of its run with one searchsorted.
        """
        rng = self.rng
        k = self.n_calib
        self.calib_key = np.zeros(0, dtype=np.int64)
        if k == 0:
            self.calib_names = []
            return
        n_series = max(1, min(k, round(k / 3.5)))
        weights = np.array([0.0 if p.mc else p.weight for p in _PROJECTS])
        exact = weights / weights.sum() * n_series
        per_project = np.floor(exact).astype(np.int64)
        short = n_series - int(per_project.sum())
        per_project[np.argsort(-(exact - per_project), kind="stable")[:short]] += 1
        versions = 1 + rng.multinomial(k - n_series, np.full(n_series, 1.0 / n_series))
        key, names, created, first = [], [], [], []
        s = 0
        position = 0
        for p, count in enumerate(per_project):
            proj = _PROJECTS[p]
            if count == 0:
                continue
            folders = min(len(_FOLDERS), int(count))
            blocks = math.ceil(count / folders)
            span = proj.run_hi - proj.run_lo
            starts = [proj.run_lo + span * b // blocks for b in range(blocks)]
            times = [proj.start + (proj.end - proj.start) * b // blocks for b in range(blocks)]
            for i in range(int(count)):
                b, f = divmod(i, folders)
                folder = _FOLDERS[f % len(_FOLDERS)] + (
                    str(f // len(_FOLDERS) + 1) if f >= len(_FOLDERS) else ""
                )
                nv = int(versions[s])
                base = times[b] - int(rng.integers(1, 10)) * _DAY
                gap = min(float(rng.uniform(3, 90)) * _DAY, (_NOW - _DAY - base) / max(nv - 1, 1))
                stem = f"calib:calib.{proj.name}.{starts[b]:08d}.{folder}.COND"
                for v in range(nv):
                    names.append(f"{stem}.v{v + 1:04d}")
                    created.append(base + int(v * gap))
                key.append(p * 10_000_000 + starts[b])
                first.append(position)
                position += nv
                s += 1
        self.calib_key = np.array(key, dtype=np.int64)
        self.calib_first = np.array(first, dtype=np.int64)
        self.calib_versions = versions
        self.calib_base = np.array([created[f] for f in first], dtype=np.int64)
        last = self.calib_first + versions - 1
        spread = np.array(created, dtype=np.int64)[last] - self.calib_base
        self.calib_gap = np.maximum(spread / np.maximum(versions - 1, 1), 1.0)
        self.calib_names = names
        sl = slice(0, k)
        self.kind[sl] = _KINDS.index("calibration")
        self.dtype[sl] = _DTYPES.index("COND")
        self.profile[sl] = _PROFILES.index("calibration")
        self.created[sl] = created
        self.bytes[sl] = np.exp(rng.uniform(np.log(1e6), np.log(2e10), k)).astype(np.int64)
        series_of = np.repeat(np.arange(len(key)), versions)
        proj_of = (self.calib_key // 10_000_000)[series_of]
        self.project[sl] = proj_of
        self.run[sl] = (self.calib_key % 10_000_000)[series_of]

    def pick_calibration(self, key: np.ndarray, ready: np.ndarray) -> np.ndarray:
        """A calibration version for each (project, run) key: the block holding the run, any
        folder of it, and mostly the newest version already made when the inputs are ready."""
        rng = self.rng
        keys = self.calib_key
        pos = np.clip(np.searchsorted(keys, key, side="right") - 1, 0, len(keys) - 1)
        first = np.searchsorted(keys, keys[pos], side="left")
        series = first + (rng.random(len(key)) * (pos - first + 1)).astype(np.int64)
        nv = self.calib_versions[series]
        newest = np.floor((ready - self.calib_base[series]) / self.calib_gap[series])
        newest = np.clip(newest, 0, nv - 1).astype(np.int64)
        older = (rng.random(len(key)) * (newest + 1)).astype(np.int64)
        version = np.where(rng.random(len(key)) < 0.7, newest, older)
        return self.calib_first[series] + version

    def grow(self, units: np.ndarray, position: int) -> np.ndarray:
        """Lay out and fill the datasets of ``units`` from dataset index ``position`` on.

        Node j of every unit is processed together, after all nodes < j, so inputs (earlier
        nodes, and calibration/metadata/pile-up laid out before) always have their times and
        sizes. Every input has a smaller dataset index than its output: the graph is acyclic.
        Returns the dataset index of each unit's first node.
        """
        rng = self.rng
        c = self.c
        U = self.units
        keep = U.keep[units]
        offsets = position + np.concatenate([[0], np.cumsum(keep)[:-1]])
        for j in range(int(keep.max(initial=0))):
            sel = keep > j
            uu = units[sel]
            idx = offsets[sel] + j
            k = len(idx)
            t = U.template[uu]
            g = c.base[t] + j
            remaining = (c.length[t] - j).astype(np.float64)
            proj = U.project[uu]
            self.unit[idx] = uu
            self.node[idx] = g
            self.kind[idx] = c.kind[g]
            dtype = c.dtype[g]
            skim = dtype < 0
            dtype[skim] = _SKIM0 + rng.integers(0, len(_SKIM_FORMATS), int(skim.sum()))
            self.dtype[idx] = dtype
            self.step[idx] = c.step[g]
            self.project[idx] = proj
            self.run[idx] = U.run[uu]
            self.dsid[idx] = U.dsid[uu]
            self.profile[idx] = c.profile[g]
            self.part[idx] = c.part[g]

            par = np.where(c.parent[g] >= 0, idx[:, None] - j + c.parent[g], -1)
            has_par = par >= 0
            self.ppar[idx] = par[:, 0]
            safe = np.where(has_par, par, 0)
            ready = np.maximum(U.t0[uu], np.where(has_par, self.created[safe], 0).max(axis=1))
            in_bytes = np.where(has_par, self.bytes[safe], 0).sum(axis=1)
            in_events = np.where(has_par, self.events[safe], 0).sum(axis=1)

            pool = c.pool[g]
            made = pool >= 0  # made by a production (RAW is not)
            joined = c.train[g] >= 0  # ... by the production of an earlier node (a train)
            has = made & ~joined  # ... by a production of its own
            mate = np.where(joined, idx - j + c.train[g], 0)
            # cross-unit inputs: pile-up HITS, calibration, DBRelease
            pile = np.full((k, 2), -1, dtype=np.int64)
            overlay = c.pileup[g] & (self.pileup_hits[proj, 0] >= 0)
            pile[overlay] = self.pileup_hits[proj[overlay]]
            ready = np.maximum(
                ready, np.where(pile >= 0, self.created[pile.clip(0)], 0).max(axis=1)
            )
            cal = np.full(k, -1, dtype=np.int64)
            wants = c.calibration[g] & (self.n_calib > 0)
            if wants.any():
                key = proj[wants] * 10_000_000 + U.run[uu[wants]]
                cal[wants] = self.pick_calibration(key, ready[wants])
                ready = np.where(cal >= 0, np.maximum(ready, self.created[cal.clip(0)]), ready)
            cfg = np.full(k, -1, dtype=np.int64)
            wants = (rng.random(k) < c.config[g]) & (self.n_meta > 0)
            if wants.any():
                m = np.searchsorted(self.meta_created, ready[wants], side="right") - 1
                m = np.clip(m - rng.integers(0, 3, int(wants.sum())), 0, self.n_meta - 1)
                cfg[wants] = self.meta_first + m
                ready = np.where(cfg >= 0, np.maximum(ready, self.created[cfg.clip(0)]), ready)

            # transformation: a tag of the pool from around the time the inputs were ready
            tr = np.full(k, -1, dtype=np.int64)
            q = np.clip((ready - _EPOCH) / (_NOW - _EPOCH), 0.0, 1.0)
            noise = rng.normal(0.0, 0.05, k)
            for p in np.unique(pool[has]):
                mask = pool == p
                members = self.tr.pools[p]
                pos = np.rint((q[mask] + noise[mask]) * (len(members) - 1))
                tr[mask] = members[np.clip(pos, 0, len(members) - 1).astype(np.int64)]
            twin = c.sibling[g] >= 0
            tr[twin] = self.ds_tr[idx[twin] - j + c.sibling[g][twin]]
            tr[joined] = self.ds_tr[mate[joined]]
            self.ds_tr[idx] = tr

            # times: bounded so that the rest of the chain still fits before _NOW
            delay = self.loguniform(c.delay[g, 0], c.delay[g, 1], k) * _DAY
            delay = np.minimum(delay, (_NOW - ready) / (remaining + 1))
            start = ready + delay.astype(np.int64)
            duration = rng.uniform(c.hours[g, 0], c.hours[g, 1]) * _HOUR
            duration = np.minimum(duration, (_NOW - start) / (remaining + 1))
            finish = start + duration.astype(np.int64)
            raw_end = U.t0[uu] + rng.integers(2 * _HOUR, 20 * _HOUR, k)
            created = np.where(has, finish, np.minimum(raw_end, _NOW))
            self.created[idx] = np.where(joined, self.created[mate], created)

            # sizes
            share = np.where(
                c.part[g] == 0, U.share[uu], np.where(c.part[g] == 1, 1.0 - U.share[uu], 1.0)
            )
            raw_bytes = np.clip(rng.lognormal(np.log(5e12), 0.8, k), 1e12, 5e13)
            raw_events = raw_bytes / rng.uniform(0.8e6, 1.6e6, k)
            gen_events = np.clip(rng.lognormal(np.log(5e5), 1.2, k), 1e4, 2e8)
            gen_events = np.where(np.isin(U.dsid[uu], _PILEUP_DSIDS), gen_events * 100, gen_events)
            gen_bytes = gen_events * rng.uniform(3e4, 1.5e5, k)
            ratio = np.where(made, self.tr.ratio[tr.clip(0)], 1.0)
            ratio = np.nan_to_num(ratio, nan=1.0) * rng.lognormal(0.0, 0.08, k)
            kept = rng.uniform(c.skim[g, 0], c.skim[g, 1])
            root = ~has_par[:, 0]
            is_raw = pool < 0
            size = np.where(
                root, np.where(is_raw, raw_bytes, gen_bytes), in_bytes * ratio * share * kept
            )
            events = np.where(
                root, np.where(is_raw, raw_events, gen_events), in_events * share * kept
            )
            self.bytes[idx] = np.maximum(1, np.rint(size)).astype(np.int64)
            self.events[idx] = np.maximum(1, np.rint(events)).astype(np.int64)

            # productions and their inputs / outputs
            if has.any():
                out = idx[has]
                m = len(out)
                prod = self.n_prod + np.arange(m)
                self.ds_prod[out] = prod
                site = self.grid.prod_sites[
                    rng.choice(len(self.grid.prod_sites), size=m, p=self.grid.prod_p)
                ]
                tier0 = np.isin(
                    pool[has], [_POOL_NAMES.index("reco_data_f"), _POOL_NAMES.index("merge_data")]
                )
                site = np.where(tier0, self.grid.cern, site)
                site = np.where(rng.random(m) < 0.03, -1, site)
                self.prod_parts.append(
                    {
                        "out": out,
                        "tr": tr[has],
                        "ready": ready[has],
                        "start": start[has],
                        "finish": finish[has],
                        "site": site,
                        "project": proj[has],
                        "pool": pool[has],
                    }
                )
                lookup = np.full(len(idx), -1, dtype=np.int64)
                lookup[has] = prod
                inputs = np.column_stack([par, pile])
                for column, role in ((inputs, 0), (cal[:, None], 1), (cfg[:, None], 2)):
                    ok = (column >= 0) & has[:, None]
                    rows, cols = np.nonzero(ok)
                    self.io_parts.append(
                        (lookup[rows], column[rows, cols], np.full(len(rows), role, np.int8))
                    )
                self.io_parts.append((prod, out, np.full(m, 3, np.int8)))
                self.n_prod += m
            if joined.any():
                extra = idx[joined]
                self.ds_prod[extra] = self.ds_prod[mate[joined]]
                self.io_parts.append((self.ds_prod[extra], extra, np.full(len(extra), 3, np.int8)))
        return offsets

    # productions ---------------------------------------------------------------------------
    def finish_productions(self) -> None:
        """Mark the newest leaf productions running, add failed attempts, and number tasks.

        Task numbers grow with start time (as ProdSys task ids do), so ``task-<8 digits>`` sorts
        chronologically. A failed attempt repeats the inputs of a successful production, started
        between the inputs being ready and the successful start, and has no output.
        """
        rng = self.rng
        keys = ("out", "tr", "ready", "start", "finish", "site", "project", "pool")
        parts = self.prod_parts or [{k: np.zeros(0, dtype=np.int64) for k in keys}]
        P = {k: np.concatenate([p[k] for p in parts]) for k in keys}
        io = self.io_parts or [(np.zeros(0, np.int64),) * 2 + (np.zeros(0, np.int8),)]
        io_prod = np.concatenate([x[0] for x in io])
        io_ds = np.concatenate([x[1] for x in io])
        io_role = np.concatenate([x[2] for x in io])
        n_prod = self.n_prod
        status = np.zeros(n_prod, dtype=np.int8)  # done / failed / running

        # a production may still be running if none of its outputs has been used yet
        is_out = io_role == 3
        out_prod, out_ds = io_prod[is_out], io_ds[is_out]
        used = self.c.child_min[self.node[out_ds]] < self.units.keep[self.unit[out_ds]]
        leaf = np.bincount(out_prod, weights=used, minlength=n_prod) == 0
        recent = P["start"] >= _NOW - 21 * _DAY
        running = leaf & recent & (rng.random(n_prod) < 0.6)
        status[running] = 2
        P["finish"][running] = -1
        registered = np.minimum(P["start"] + rng.integers(300, 3 * _HOUR, n_prod), _NOW)
        opened = running[out_prod]
        self.created[out_ds[opened]] = registered[out_prod[opened]]
        self.open_ds = out_ds[opened]

        n_fail = round(0.01 * n_prod)
        chosen = np.sort(rng.choice(n_prod, size=n_fail, replace=False))
        new = np.full(n_prod, -1, dtype=np.int64)
        new[chosen] = n_prod + np.arange(n_fail)
        rows = (new[io_prod] >= 0) & (io_role != 3)
        io_prod = np.concatenate([io_prod, new[io_prod[rows]]])
        io_ds = np.concatenate([io_ds, io_ds[rows]])
        io_role = np.concatenate([io_role, io_role[rows]])
        ready = P["ready"][chosen]
        f_start = ready + (rng.random(n_fail) * (P["start"][chosen] - ready)).astype(np.int64)
        f_finish = np.minimum(f_start + rng.integers(_HOUR // 2, 48 * _HOUR, n_fail), _NOW)
        f_site = self.grid.prod_sites[
            rng.choice(len(self.grid.prod_sites), size=n_fail, p=self.grid.prod_p)
        ]
        tr = np.concatenate([P["tr"], P["tr"][chosen]])
        start = np.concatenate([P["start"], f_start])
        finish = np.concatenate([P["finish"], f_finish])
        site = np.concatenate([P["site"], f_site])
        project = np.concatenate([P["project"], P["project"][chosen]])
        pool = np.concatenate([P["pool"], P["pool"][chosen]])
        status = np.concatenate([status, np.ones(n_fail, dtype=np.int8)])
        total = n_prod + n_fail

        order = np.lexsort((np.arange(total), start))
        rank = np.empty(total, dtype=np.int64)
        rank[order] = np.arange(total)
        gap = max(1, 40_000_000 // max(total, 1))
        taskno = 5_000_000 + np.cumsum(1 + rng.integers(0, 2 * gap, total))
        self.taskno = taskno[rank]  # by production index
        conditions = []
        reproc = _POOL_NAMES.index("reco_data_r")
        for p in range(len(_PROJECTS)):
            conditions.append(_PROJECTS[p].conditions)
        conditions.extend(_REPROCESSING_CONDITIONS)
        cond = np.asarray(project, dtype=np.int64).copy()
        run3 = np.array([p.name not in _RUN2_PROJECTS for p in _PROJECTS])
        cond = np.where(pool == reproc, len(_PROJECTS) + run3[project], cond)
        uses = np.array([_POOLS[name].conditions for name in _POOL_NAMES])[pool]
        cond = np.where(uses, cond, -1)

        self.prod = {
            "tr": tr[order],
            "start": start[order],
            "finish": finish[order],
            "site": site[order],
            "status": status[order],
            "cond": cond[order],
            "taskno": taskno,
        }
        self.conditions = conditions
        io_rank = rank[io_prod]
        io_order = np.lexsort((io_role, io_rank))
        self.io = (io_rank[io_order], io_ds[io_order], io_role[io_order])
        produced = self.ds_prod >= 0
        self.ds_prod[produced] = rank[self.ds_prod[produced]]

    # names ---------------------------------------------------------------------------------
    def name_datasets(self) -> None:
        """``scope:name`` for every dataset, built column-wise with pyarrow compute."""
        import pyarrow as pa
        import pyarrow.compute as pc

        first = self.n_calib + self.n_meta
        sl = slice(first, self.n)
        U = self.units
        ids = [
            f"{r:08d}" if r >= 0 else f"{d:06d}"
            for r, d in zip(U.run.tolist(), U.dsid.tolist(), strict=True)
        ]
        short = {d: _PILEUP_SHORT[i] for i, d in enumerate(_PILEUP_DSIDS)}
        descr = [
            _STREAMS[s] if s >= 0 else short.get(d) or _physics_short(d)
            for s, d in zip(U.stream.tolist(), U.dsid.tolist(), strict=True)
        ]
        unit = pa.array(self.unit[sl])
        project = pc.take(pa.array([p.name for p in _PROJECTS]), pa.array(self.project[sl]))
        core = pc.binary_join_element_wise(
            project,
            pc.take(pa.array(ids), unit),
            pc.take(pa.array(descr), unit),
            pc.take(pa.array(_STEPS), pa.array(self.step[sl])),
            pc.take(pa.array(_DTYPES), pa.array(self.dtype[sl])),
            ".",
        )
        tag_names = pa.array(self.tr.tag)
        tr = self.ds_tr
        own = tr[sl]
        tags = pc.if_else(pa.array(own >= 0), pc.take(tag_names, pa.array(own.clip(0))), "")
        ancestor = self.ppar[sl]
        while (ancestor >= 0).any():
            valid = ancestor >= 0
            ancestor_tr = np.where(valid, tr[ancestor.clip(0)], -1)
            use = ancestor_tr >= 0
            prefix = pc.take(tag_names, pa.array(ancestor_tr.clip(0)))
            tags = pc.if_else(pa.array(use), pc.binary_join_element_wise(prefix, tags, "_"), tags)
            ancestor = np.where(valid, self.ppar[ancestor.clip(0)], -1)
        has_tags = pc.not_equal(tags, "")
        name = pc.if_else(has_tags, pc.binary_join_element_wise(core, tags, "."), core)
        part = self.part[sl] >= 0
        tid = np.full(self.n - first, "", dtype=object)
        tid[part] = [
            f"_tid{t:08d}_00" for t in self.prod["taskno"][self.ds_prod[sl][part]].tolist()
        ]
        name = pc.binary_join_element_wise(name, pa.array(tid, pa.string()), "")
        unit_dids = pc.binary_join_element_wise(project, name, ":")
        dids = pa.concat_arrays(
            [
                pa.array(self.calib_names, pa.string()),
                pa.array(self.meta_names, pa.string()),
                unit_dids,
            ]
        )
        if pc.count_distinct(dids).as_py() != self.n:  # pragma: no cover - a generator bug
            raise RuntimeError("generated dataset names are not unique")
        self.dids = dids

    # states, lifetimes, replicas -------------------------------------------------------------
    def states_and_lifetimes(self) -> None:
        rng = self.rng
        n = self.n
        state = np.full(n, _DATASET_STATES.index("closed"), dtype=np.int8)
        state[self.open_ds] = _DATASET_STATES.index("open")
        in_unit = self.unit >= 0
        keep = np.where(in_unit, self.units.keep[self.unit.clip(0)], 0)
        has_child = in_unit & (self.c.child_min[self.node.clip(0)] < keep)
        closed = state == _DATASET_STATES.index("closed")
        transient = self.profile == _PROFILES.index("transient")
        analysis = self.profile == _PROFILES.index("analysis")
        u = rng.random(n)
        deleted = closed & (
            (transient & has_child & (u < 0.10))
            | (analysis & (self.created < _ts("2019-01-01")) & (u < 0.03))
        )
        state[deleted] = _DATASET_STATES.index("deleted")
        closed &= ~deleted

        expires = np.full(n, -1, dtype=np.int64)
        lifetime = closed & (transient | analysis) & (rng.random(n) < 0.15)
        expires[lifetime] = rng.integers(*_EXPIRY_FUTURE, int(lifetime.sum()))
        derived = self.kind == _KINDS.index("derived")
        eligible = np.flatnonzero(derived & closed & (self.created < _ts("2025-01-01")))
        k = min(round(0.01 * int(derived.sum())), len(eligible))
        expired = np.sort(rng.choice(eligible, size=k, replace=False))
        ends = self.created[expired] + rng.integers(30 * _DAY, 365 * _DAY, k)
        expires[expired] = np.minimum(ends, _EXPIRED_BEFORE - _DAY)
        self.expired = np.zeros(n, dtype=bool)
        self.expired[expired] = True
        self.state = state
        self.expires = expires
        self.planted = {
            "raw_single_tape_copy": 0,
            "raw_tape_copies_same_site": 0,
            "transformation_without_digest": len(self.tr.undigested),
            "datasets_without_digest": int(np.isin(self.ds_tr, self.tr.undigested).sum()),
            "expired_derived": k,
            "lost_replica": 0,
        }

    def pick_disks(self, first: np.ndarray, m: int) -> np.ndarray:
        """(n, m) distinct DATADISK endpoints per row; column 0 forced where ``first`` >= 0."""
        rng = self.rng
        eps, p = self.grid.disk_eps, self.grid.disk_p
        out = eps[rng.choice(len(eps), size=(len(first), m), p=p)]
        out[:, 0] = np.where(first >= 0, first, out[:, 0])
        for col in range(1, m):
            for _ in range(100):
                dup = (out[:, [col]] == out[:, :col]).any(axis=1)
                if not dup.any():
                    break
                out[dup, col] = eps[rng.choice(len(eps), size=int(dup.sum()), p=p)]
        return out

    def replicas(self) -> None:
        """Place replicas by profile, then set states and plant RAW and lost-replica violations.

        Profiles: RAW gets CERN-PROD_DATATAPE plus a Tier-1 DATATAPE (weighted by pledge) and
        usually a disk copy; calibration and metadata get CERN tape, CERN disk and a Tier-1 disk;
        ``archive`` outputs (EVNT, merged HITS, final AOD) one tape copy (DATATAPE for data, MCTAPE
        for MC) and 0-3 disk copies; ``transient`` ones (task parts, RDO, express AOD) 1-2 disk
        copies; ``analysis`` formats (DAOD) 1-4 disk copies; open data CERN disk plus one more.
        Lost, copying and unavailable states only hit disk copies of reproducible data, so the
        tape copies of RAW are exactly as planted.

        Slot kinds set the replica creation delay: 0 first tape copy (hours), 1 later tape copy
        (days), 2 first disk copy (hours), 3 later disk copy (days to months).
        """
        rng = self.rng
        g = self.grid
        ds_parts: list[np.ndarray] = []
        ep_parts: list[np.ndarray] = []
        slot_parts: list[np.ndarray] = []

        def add(ds: np.ndarray, ep: np.ndarray, slot: int) -> None:
            ds_parts.append(ds)
            ep_parts.append(ep)
            slot_parts.append(np.full(len(ds), slot, dtype=np.int8))

        cern_tape, cern_disk = g.datatape[g.cern], g.datadisk[g.cern]

        def t1(k: int) -> np.ndarray:
            """``k`` Tier-1 sites with tape, weighted by their share of RAW."""
            return g.t1_tape_sites[rng.choice(len(g.t1_tape_sites), size=k, p=g.t1_tape_p)]

        raw = np.flatnonzero(self.kind == _KINDS.index("raw"))
        n_raw = len(raw)
        site_b = t1(n_raw)
        tape_a = np.full(n_raw, cern_tape)
        tape_b = g.datatape[site_b]
        order = rng.permutation(n_raw)
        k1 = k2 = round(0.01 * n_raw)
        single, same = order[:k1], order[k1 : k1 + k2]
        tape_sites = np.concatenate([[g.cern], g.t1_tape_sites])
        x = tape_sites[rng.integers(0, len(tape_sites), k2)]
        tape_a[same], tape_b[same], site_b[same] = g.datatape[x], g.mctape[x], x
        keep_a = np.ones(n_raw, dtype=bool)
        keep_b = np.ones(n_raw, dtype=bool)
        cern_only = rng.random(k1) < 0.7
        keep_b[single[cern_only]] = False
        keep_a[single[~cern_only]] = False
        add(raw[keep_a], tape_a[keep_a], 0)
        add(raw[keep_b], tape_b[keep_b], 1)
        disk = rng.random(n_raw) < 0.8
        where = np.where(rng.random(n_raw) < 0.5, cern_disk, g.datadisk[site_b])
        add(raw[disk], where[disk], 2)
        self.planted["raw_single_tape_copy"] = k1
        self.planted["raw_tape_copies_same_site"] = k2

        calib = np.flatnonzero(self.kind == _KINDS.index("calibration"))
        add(calib, np.full(len(calib), cern_tape), 0)
        add(calib, np.full(len(calib), cern_disk), 2)
        add(calib, g.datadisk[t1(len(calib))], 3)
        meta = np.flatnonzero(self.kind == _KINDS.index("metadata"))
        add(meta, np.full(len(meta), cern_tape), 0)
        add(meta, np.full(len(meta), cern_disk), 2)
        add(meta, g.datadisk[t1(len(meta))], 3)

        profile = self.profile
        archive = np.flatnonzero(profile == _PROFILES.index("archive"))
        is_mc = np.isin(self.project[archive], _MC_P)
        sites = np.concatenate([[g.cern], g.t1_tape_sites])
        p = np.concatenate([[0.15], 0.85 * g.t1_tape_p])
        site = sites[rng.choice(len(sites), size=len(archive), p=p)]
        add(archive, np.where(is_mc, g.mctape[site], g.datatape[site]), 1)
        derived = np.flatnonzero(profile >= _PROFILES.index("archive"))
        prof = profile[derived]
        count = np.select(
            [
                prof == _PROFILES.index("archive"),
                prof == _PROFILES.index("transient"),
                prof == _PROFILES.index("analysis"),
            ],
            [
                rng.choice(4, size=len(derived), p=[0.05, 0.35, 0.45, 0.15]),
                1 + (rng.random(len(derived)) < 0.35),
                1 + rng.choice(4, size=len(derived), p=[0.05, 0.3, 0.4, 0.25]),
            ],
            default=2,
        )
        first = np.where(prof == _PROFILES.index("outreach"), cern_disk, -1)
        disks = self.pick_disks(first, 4)
        for col in range(4):
            has = count > col
            add(derived[has], disks[has, col], 2 if col == 0 else 3)

        ds = np.concatenate(ds_parts)
        ep = np.concatenate(ep_parts)
        slot = np.concatenate(slot_parts)
        order = np.lexsort((ep, ds))
        ds, ep, slot = ds[order], ep[order], slot[order]
        r = len(ds)
        base = self.created[ds]
        lo = np.array([_HOUR, _DAY, _HOUR // 5, _DAY])[slot]
        hi = np.array([12 * _HOUR, 30 * _DAY, 24 * _HOUR, 200 * _DAY])[slot]
        created = np.minimum(base + rng.integers(lo, hi), _NOW)
        tape = g.ep_tape[ep]
        touched = rng.random(r) < np.where(tape, 0.05, 0.6)
        accessed = np.where(
            touched, created + (rng.random(r) * (_NOW - created)).astype(np.int64), -1
        )
        state = np.zeros(r, dtype=np.int8)
        ds_state = self.state[ds]
        deleted = ds_state == _DATASET_STATES.index("deleted")
        state[deleted] = _REPLICA_STATES.index("deleted")
        opened = ds_state == _DATASET_STATES.index("open")
        state[opened] = _REPLICA_STATES.index("copying")
        accessed[opened] = -1
        reproducible = np.isin(
            self.kind[ds], [_KINDS.index(k) for k in ("derived", "simulated", "outreach")]
        )
        population = reproducible & ~tape & (ds_state == _DATASET_STATES.index("closed"))
        u = rng.random(r)
        copying = population & (u < 0.004)
        unavailable = population & (u >= 0.004) & (u < 0.008)
        state[copying] = _REPLICA_STATES.index("copying")
        state[unavailable] = _REPLICA_STATES.index("unavailable")
        recent = _NOW - rng.integers(0, 5 * _DAY, r)
        created = np.where(copying, np.maximum(base, np.minimum(recent, created)), created)
        accessed[copying] = -1
        population &= ~self.expired[ds]
        candidates = np.flatnonzero(population & (state == 0))
        k = min(round(0.01 * int(population.sum())), len(candidates))
        lost = np.sort(rng.choice(candidates, size=k, replace=False))
        state[lost] = _REPLICA_STATES.index("lost")
        self.planted["lost_replica"] = k
        n_lost = np.bincount(ds[lost], minlength=self.n)
        n_live = np.bincount(ds[~deleted], minlength=self.n)
        all_lost = (n_lost > 0) & (n_lost == n_live)
        self.state[all_lost] = _DATASET_STATES.index("lost")
        self.rep = {"ds": ds, "ep": ep, "state": state, "created": created, "accessed": accessed}

        used = np.bincount(
            ep[~deleted],
            weights=self.bytes[ds[~deleted]].astype(np.float64),
            minlength=len(g.ep_name),
        )
        tier = g.site_tier[g.ep_site]
        floor = np.where(
            g.ep_tape,
            np.where(tier == 0, 1e17, 3e16),
            np.array([1.5e16, 8e15, 2e15, 3e14])[tier],
        )
        floor = np.where(np.array(g.ep_type) == "SCRATCHDISK", floor / 10, floor)
        n_ep = len(g.ep_name)
        capacity = np.maximum(
            used * rng.uniform(1.2, 2.0, n_ep), floor * rng.uniform(0.7, 1.3, n_ep)
        )
        self.capacity = (np.minimum(np.ceil(capacity / 1e12), 2**62 / 1e12) * 1e12).astype(np.int64)

    def pins(self) -> None:
        """Open Data is pinned for good; a few analysis inputs are pinned by physics groups."""
        rng = self.rng
        outreach = np.flatnonzero(
            (self.kind == _KINDS.index("outreach"))
            & (self.state != _DATASET_STATES.index("deleted"))
        )
        chain = np.isin(self.kind, [_KINDS.index("derived"), _KINDS.index("simulated")])
        candidates = np.flatnonzero(
            chain & (self.state == _DATASET_STATES.index("closed")) & ~self.expired
        )
        k = round(0.003 * len(candidates))
        chosen = np.sort(rng.choice(candidates, size=k, replace=False))
        groups = ("HIGG", "TOPQ", "SUSY", "EXOT", "STDM", "BPHY", "HION")
        actors = (
            "phys-higgs",
            "phys-top",
            "phys-susy",
            "phys-exotics",
            "phys-sm",
            "phys-bphys",
            "phys-hi",
        )
        group = rng.integers(0, len(groups), k)
        number = rng.integers(1, 120, k)
        u = rng.random(k)
        created = self.created[chosen]
        # a lapsed pin ended before the catalog's "now"; the others are open-ended or future
        lapsed = (u < 0.1) & (created < _ts("2025-01-01"))
        until = np.where(u < 0.4, -1, rng.integers(_ts("2027-01-01"), _ts("2030-12-31"), k))
        lapsed_end = np.minimum(created + rng.integers(30 * _DAY, 400 * _DAY, k), _EXPIRED_BEFORE)
        until = np.where(lapsed, lapsed_end, until)
        created_year = created.astype("datetime64[s]").astype("datetime64[Y]").astype(np.int64)
        year = np.minimum(1970 + created_year + np.where(lapsed, 0, rng.integers(0, 3, k)), 2025)
        run2 = np.isin(self.project[chosen], [_PROJECT_INDEX[p] for p in _RUN2_PROJECTS])
        legacy = run2 & (rng.random(k) < 0.25)
        paper = ~legacy & (rng.random(k) < 0.35)
        reasons = []
        actor = []
        for gi, y, nn, is_legacy, is_paper in zip(
            group.tolist(),
            year.tolist(),
            number.tolist(),
            legacy.tolist(),
            paper.tolist(),
            strict=True,
        ):
            if is_legacy:
                reasons.append("legacy Run-2 combination input")
                actor.append("atlas-adc-dpa")
            elif is_paper:
                reasons.append(f"paper in review: ATLAS-CONF-{y}-{nn:03d}")
                actor.append(actors[gi])
            else:
                reasons.append(f"analysis in progress: ANA-{groups[gi]}-{y}-{nn % 40:02d}")
                actor.append(actors[gi])
        self.pin = {
            "ds": np.concatenate([outreach, chosen]),
            "reason": ["ATLAS Open Data release"] * len(outreach) + reasons,
            "until": np.concatenate([np.full(len(outreach), -1), until]),
            "actor": ["atlas-outreach"] * len(outreach) + actor,
        }

    # tables --------------------------------------------------------------------------------
    def tables(self) -> dict[str, dict[str, object]]:
        """Column data per table (numpy arrays, lists or pyarrow arrays), in schema order."""
        import pyarrow as pa
        import pyarrow.compute as pc

        rng = self.rng
        g = self.grid
        tr = self.tr

        def take(values: Sequence[str], index: np.ndarray) -> pa.Array:
            return pc.take(pa.array(values, pa.string()), pa.array(index, mask=index < 0))

        def when(seconds: np.ndarray) -> pa.Array:
            micros = pa.array(seconds * 1_000_000, mask=seconds < 0, type=pa.int64())
            return micros.cast(pa.timestamp("us", tz="UTC"))

        def optional(values: np.ndarray) -> pa.Array:
            return pa.array(values, mask=values < 0, type=pa.int64())

        files = np.maximum(1, np.ceil(self.bytes / rng.uniform(2e9, 10e9, self.n))).astype(np.int64)
        rep = self.rep
        prod = self.prod
        prod_ids = [f"task-{t:08d}" for t in prod["taskno"].tolist()]
        io_prod, io_ds, io_role = self.io
        return {
            "sites": {
                "name": g.site_name,
                "tier": g.site_tier,
                "country": g.site_country,
                "cloud": g.site_cloud,
                "status": g.site_status,
            },
            "endpoints": {
                "name": g.ep_name,
                "site": take(g.site_name, g.ep_site),
                "media": ["tape" if t else "disk" for t in g.ep_tape.tolist()],
                "capacity_bytes": self.capacity,
                "type": g.ep_type,
                "archival": g.ep_tape,
            },
            "datasets": {
                "did": self.dids,
                "kind": take(_KINDS, self.kind.astype(np.int64)),
                "data_type": take(_DTYPES, self.dtype.astype(np.int64)),
                "bytes": self.bytes,
                "files": files,
                "events": optional(self.events),
                "created_at": when(self.created),
                "expires_at": when(self.expires),
                "state": take(_DATASET_STATES, self.state.astype(np.int64)),
                "project": take(
                    [p.name for p in _PROJECTS] + ["ddo"],
                    np.where(self.kind == _KINDS.index("metadata"), len(_PROJECTS), self.project),
                ),
                "run_number": optional(self.run),
                "dsid": optional(self.dsid),
            },
            "replicas": {
                "did": pc.take(self.dids, pa.array(rep["ds"])),
                "endpoint": take(g.ep_name, rep["ep"]),
                "state": take(_REPLICA_STATES, rep["state"].astype(np.int64)),
                "created_at": when(rep["created"]),
                "accessed_at": when(rep["accessed"]),
            },
            "transformations": {
                "tag": tr.tag,
                "name": tr.name,
                "release": tr.release,
                "image": tr.image,
                "image_digest": tr.digest,
                "code_repo": [_CODE_REPO] * len(tr.tag),
                "code_commit": tr.commit,
                "command": tr.command,
                "platform": tr.platform,
                "cpu_seconds_per_event": tr.cpu,
                "output_ratio": pa.array(tr.ratio, mask=np.isnan(tr.ratio)),
            },
            "productions": {
                "id": prod_ids,
                "transformation": take(tr.tag, prod["tr"]),
                "conditions_tag": take(self.conditions, prod["cond"]),
                "site": take(g.site_name, prod["site"]),
                "started_at": when(prod["start"]),
                "finished_at": when(prod["finish"]),
                "status": take(("done", "failed", "running"), prod["status"].astype(np.int64)),
            },
            "production_io": {
                "production": take(prod_ids, io_prod),
                "did": pc.take(self.dids, pa.array(io_ds)),
                "role": take(_ROLES, io_role.astype(np.int64)),
            },
            "pins": {
                "did": pc.take(self.dids, pa.array(self.pin["ds"], type=pa.int64())),
                "reason": self.pin["reason"],
                "until": when(self.pin["until"]),
                "actor": self.pin["actor"],
            },
        }


def schemas() -> dict[str, pa.Schema]:
    """The Arrow schema of every generated table.

    Columns the format calls optional, and the extra attribute/metadata columns, are nullable;
    the rest are not. Timestamps are microseconds in UTC.
    """
    import pyarrow as pa

    text, integer, real = pa.string(), pa.int64(), pa.float64()
    ts = pa.timestamp("us", tz="UTC")

    def col(name: str, kind: pa.DataType, nullable: bool = False) -> pa.Field:
        return pa.field(name, kind, nullable=nullable)

    return {
        "sites": pa.schema(
            [
                col("name", text),
                col("tier", integer),
                col("country", text),
                col("cloud", text, True),
                col("status", text),
            ]
        ),
        "endpoints": pa.schema(
            [
                col("name", text),
                col("site", text),
                col("media", text),
                col("capacity_bytes", integer, True),
                col("type", text, True),
                col("archival", pa.bool_(), True),
            ]
        ),
        "datasets": pa.schema(
            [
                col("did", text),
                col("kind", text),
                col("data_type", text, True),
                col("bytes", integer),
                col("files", integer),
                col("events", integer, True),
                col("created_at", ts),
                col("expires_at", ts, True),
                col("state", text),
                col("project", text, True),
                col("run_number", integer, True),
                col("dsid", integer, True),
            ]
        ),
        "replicas": pa.schema(
            [
                col("did", text),
                col("endpoint", text),
                col("state", text),
                col("created_at", ts),
                col("accessed_at", ts, True),
            ]
        ),
        "transformations": pa.schema(
            [
                col("tag", text),
                col("name", text),
                col("release", text),
                col("image", text, True),
                col("image_digest", text, True),
                col("code_repo", text, True),
                col("code_commit", text, True),
                col("command", text, True),
                col("platform", text, True),
                col("cpu_seconds_per_event", real, True),
                col("output_ratio", real, True),
            ]
        ),
        "productions": pa.schema(
            [
                col("id", text),
                col("transformation", text),
                col("conditions_tag", text, True),
                col("site", text, True),
                col("started_at", ts, True),
                col("finished_at", ts, True),
                col("status", text),
            ]
        ),
        "production_io": pa.schema([col("production", text), col("did", text), col("role", text)]),
        "pins": pa.schema(
            [col("did", text), col("reason", text), col("until", ts, True), col("actor", text)]
        ),
    }


def generate(
    directory: Path,
    datasets: int,
    seed: int = 0,
    progress: ProgressCallback | None = None,
) -> GenerateSummary:
    """Write a synthetic catalog of ``datasets`` datasets into ``directory`` as Parquet tables.

    ``progress(stage, done, total)`` is called as work advances: stage ``build`` counts build
    steps, stage ``write`` counts rows written; each ends with ``done == total``. Existing
    tables of the same names are replaced (each file is written aside and renamed into place).
    """
    if datasets < 1:
        raise ValueError(f"datasets must be at least 1, got {datasets}")
    import pyarrow as pa
    import pyarrow.parquet as pq

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    builder = _Builder(datasets, seed, progress)
    columns, planted = builder.build()
    schema = schemas()

    def column(values: object, kind: pa.DataType) -> pa.Array:
        return values if isinstance(values, pa.Array) else pa.array(values, kind)

    tables = {
        name: pa.Table.from_arrays(
            [column(columns[name][f.name], f.type) for f in schema[name]], schema=schema[name]
        )
        for name in TABLES
    }
    total = sum(t.num_rows for t in tables.values())
    done = 0
    for name, table in tables.items():
        path = directory / f"{name}.parquet"
        partial = directory / f".{name}.parquet.partial"
        with pq.ParquetWriter(partial, table.schema, compression="zstd") as writer:
            for offset in range(0, table.num_rows, _ROW_GROUP):
                chunk = table.slice(offset, _ROW_GROUP)
                writer.write_table(chunk)
                done += chunk.num_rows
                if progress is not None:
                    progress("write", done, total)
        os.replace(partial, path)
        stale = directory / f"{name}.csv"
        if stale.exists():  # one file per table, or import refuses the directory
            stale.unlink()
    return GenerateSummary(
        directory=directory,
        rows={name: t.num_rows for name, t in tables.items()},
        planted=planted,
    )
