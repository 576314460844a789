"""ATLAS vocabulary the generator draws from: data-taking and MC projects with their run ranges
and conditions tags, streams, conditions folders, data types, derivation formats, pile-up samples
and physics processes (``physics_short`` gives a DSID its AMI-like short name).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lifecycle.generate.timeline import ts


@dataclass(frozen=True)
class Project:
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
DATA_PROJECTS = (
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
MC_PROJECTS = (
    ("mc15_13TeV", "2015-07-01", "2017-03-31", 0.5, "OFLCOND-MC15c-SDR-09"),
    ("mc16_13TeV", "2016-11-01", "2020-12-31", 1.5, "OFLCOND-MC16-SDR-RUN2-09"),
    ("mc20_13TeV", "2020-09-01", "2024-06-30", 1.6, "OFLCOND-MC16-SDR-RUN2-09"),
    ("mc21_13p6TeV", "2021-10-01", "2022-12-31", 0.3, "OFLCOND-MC21-SDR-RUN3-07"),
    ("mc23_13p6TeV", "2022-10-01", "2025-10-31", 1.4, "OFLCOND-MC23-SDR-RUN3-02"),
)
PROJECTS: tuple[Project, ...] = (
    *(
        Project(n, False, w, ts(a), ts(b), lo, hi, heavy_ion="_hi" in n, conditions=c)
        for n, lo, hi, a, b, w, c in DATA_PROJECTS
    ),
    *(Project(n, True, w, ts(a), ts(b), conditions=c) for n, a, b, w, c in MC_PROJECTS),
)
PROJECT_INDEX = {p.name: i for i, p in enumerate(PROJECTS)}
RUN2_PROJECTS = (
    *("data15_13TeV", "data15_hi", "data16_13TeV", "data17_13TeV", "data18_13TeV", "data18_hi"),
    *("mc15_13TeV", "mc16_13TeV", "mc20_13TeV"),
)
DATA_P = np.array([i for i, p in enumerate(PROJECTS) if not p.mc])
MC_P = np.array([i for i, p in enumerate(PROJECTS) if p.mc])
REPROCESSING_CONDITIONS = ("CONDBR2-BLKPA-RUN2-09", "CONDBR2-BLKPA-RUN3-05")

# (stream, probability that a run has it); the first stream of each list is always there.
PP_STREAMS = (
    ("physics_Main", 1.0),
    ("express_express", 0.9),
    ("physics_MinBias", 0.35),
    ("physics_ZeroBias", 0.3),
    ("physics_CosmicCalo", 0.25),
    ("physics_BphysLS", 0.2),
    ("physics_Late", 0.15),
)
HI_STREAMS = (
    ("physics_HardProbes", 1.0),
    ("express_express", 0.9),
    ("physics_MinBias", 0.8),
    ("physics_UPC", 0.6),
)
STREAMS = tuple(dict.fromkeys(s for s, _ in PP_STREAMS + HI_STREAMS))

FOLDERS = (
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

SKIM_FORMATS = (
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
PILEUP_DSIDS = (361238, 361239)
PILEUP_SHORT = (
    "Pythia8EvtGen_A3NNPDF23LO_minbias_inelastic_low",
    "Pythia8EvtGen_A3NNPDF23LO_minbias_inelastic_high",
)
DSID_LO, DSID_HI = 300000, 1000000

GENERATORS = (
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
PROCESSES = (
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


def physics_short(dsid: int) -> str:
    """A plausible physics short name, a fixed function of the DSID (like AMI's)."""
    gen, tune = GENERATORS[dsid % len(GENERATORS)]
    process = PROCESSES[(dsid // 9) % len(PROCESSES)].format(
        a=dsid % 10, m=400 + (dsid // 7 % 40) * 100, n=(dsid // 11 % 20) * 50
    )
    return f"{gen}_{tune}_{process}" if tune else f"{gen}_{process}"


# Production steps and data types as they appear in names: project.number.stream.step.DATA_TYPE.tags
STEPS = ("daq", "recon", "merge", "deriv", "evgen", "simul", "digit")
DTYPES = (
    *("RAW", "AOD", "DAOD_PHYS", "DAOD_PHYSLITE", "NTUP_OPENDATA", "EVNT", "HITS", "RDO"),
    *("COND", "DBRelease", *SKIM_FORMATS),
)
SKIM0 = DTYPES.index(SKIM_FORMATS[0])
