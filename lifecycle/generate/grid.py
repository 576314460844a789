"""The grid: about 150 sites (the real ATLAS Tier-0/1/2 names first, then plausible synthetic
Tier-2/3 sites) and their Rucio-style endpoints, with the lookups replica placement and
production scheduling draw from. The grid is the same for every seed: it is not the data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Real sites from the ATLAS site list (shared/data/atlas/atlas_sites.csv): (name, tier, country,
# cloud). NIKHEF-ELPROD is the disk half of the Dutch Tier-1, so it has no tape endpoints; the
# Turkish site had no cloud in the source, so its cloud is null.
REAL_SITES: tuple[tuple[str, int, str, str | None], ...] = (
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
SYNTHETIC_SITES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
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
N_SITES = 150
N_SYNTHETIC_T2 = 30  # the first synthetic sites are Tier-2, the rest Tier-3

# Share of the second RAW tape copy per Tier-1 (roughly the Tier-1 pledges).
T1_TAPE_SHARE = {
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
class Grid:
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


def build_grid() -> Grid:
    """The ~150 sites and their endpoints; identical for every seed."""
    rng = np.random.Generator(np.random.PCG64(20150201))
    sites = list(REAL_SITES)
    synthetic: list[tuple[str, int, str, str | None]] = []
    for country, cloud, cities in SYNTHETIC_SITES:
        for city in cities:
            synthetic.append((f"{country.upper()}-{city}", 0, country, cloud))
    order = rng.permutation(len(synthetic))
    for rank, i in enumerate(order[: N_SITES - len(sites)]):
        stem, _, country, cloud = synthetic[i]
        tier = 2 if rank < N_SYNTHETIC_T2 else 3
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
    t1 = np.array([names.index(s) for s in T1_TAPE_SHARE], dtype=np.int64)
    t1_p = np.array(list(T1_TAPE_SHARE.values()))
    alive = np.array([s != "decommissioned" for s in status])
    tier_weight = np.array([4.0, 3.0, 1.0, 0.25])[tier]
    disk_sites = np.flatnonzero(alive)
    disk_w = tier_weight[disk_sites]
    prod_w = np.array([2.0, 3.0, 1.0, 0.2])[tier[disk_sites]]
    return Grid(
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
