"""Storage keys and default names, defined once.

``tl`` writes under these keys, ``pl``, ``get`` and the command line read them, and the
tests use them; nothing else spells a key. Keys are grouped by result: a frozen record
says where one result lives in the AnnData (as scanpy's ``_EmbeddingKeys``), and a
``*Uns`` namespace names the entries of its ``uns`` dict (as squidpy's ``Key.uns``).
"""

from __future__ import annotations

from dataclasses import dataclass

# Default ``key_added`` of each tl function.
NMF_KEY = "nmf"
GNMF_KEY = "gnmf"
PERSISTENCE_KEY = "persistence"
PNMF_KEY = "pnmf"
DEEP_NMF_KEY = "deep_nmf"
CONSENSUS_KEY = "cnmf"


class Scanpy:
    """Names scanpy (and AnnData convention) defines, which scnmf reads."""

    #: ``uns`` record of ``sc.pp.neighbors`` (its default ``key_added``).
    NEIGHBORS = "neighbors"
    #: Entry of that record naming the ``obsp`` key of its distances.
    DISTANCES_KEY = "distances_key"
    #: Default ``obsp`` key of the kNN distances.
    DISTANCES = "distances"
    #: Entry of that record holding the call's settings.
    PARAMS = "params"
    #: ``var`` column of ``sc.pp.highly_variable_genes``: the default ``mask_var``.
    HIGHLY_VARIABLE = "highly_variable"
    #: ``obsm`` key of ``sc.pp.pca``.
    PCA = "X_pca"
    #: ``varm`` key of ``sc.pp.pca``'s loadings and its ``uns`` record.
    PCA_LOADINGS = "PCs"
    PCA_UNS = "pca"
    #: ``use_rep`` value meaning ``adata.X`` itself.
    X = "X"


#: Representation used for cell–cell distances when present (else ``adata.X``).
DEFAULT_REP = Scanpy.PCA

#: ``uns`` records of scanpy (its functions' default ``key_added``) and who writes them:
#: a scnmf ``key_added`` must not replace them.
SCANPY_UNS: dict[str, str] = {
    "neighbors": "sc.pp.neighbors",
    "pca": "sc.pp.pca",
    "umap": "sc.tl.umap",
    "tsne": "sc.tl.tsne",
    "diffmap_evals": "sc.tl.diffmap",
    "draw_graph": "sc.tl.draw_graph",
    "leiden": "sc.tl.leiden",
    "louvain": "sc.tl.louvain",
    "rank_genes_groups": "sc.tl.rank_genes_groups",
    "rank_genes_groups_filtered": "sc.tl.filter_rank_genes_groups",
    "paga": "sc.tl.paga",
    "dpt": "sc.tl.dpt",
    "iroot": "sc.tl.dpt",
    "hvg": "sc.pp.highly_variable_genes",
    "log1p": "sc.pp.log1p",
    "ingest": "sc.tl.ingest",
    "spatial": "scanpy's spatial readers",
}
#: Name patterns of scanpy's ``uns`` records: prefix or suffix → who writes them.
SCANPY_UNS_PREFIXES: dict[str, str] = {"dendrogram_": "sc.tl.dendrogram"}
SCANPY_UNS_SUFFIXES: dict[str, str] = {"_colors": "scanpy's plots (category colours)"}
#: ``obsm`` embeddings of scanpy (and its ``sc.external`` wrappers).
SCANPY_OBSM: dict[str, str] = {
    "X_pca": "sc.pp.pca",
    "X_umap": "sc.tl.umap",
    "X_tsne": "sc.tl.tsne",
    "X_diffmap": "sc.tl.diffmap",
    "X_pca_harmony": "sc.external.pp.harmony_integrate",
    "X_scanorama": "sc.external.pp.scanorama_integrate",
    "X_phate": "sc.external.tl.phate",
}
SCANPY_OBSM_PREFIXES: dict[str, str] = {"X_draw_graph_": "sc.tl.draw_graph"}


def _reserved(name: str, exact: dict, prefixes: dict, suffixes: dict) -> str:
    if name in exact:
        return exact[name]
    for pattern, who in prefixes.items():
        if name.startswith(pattern):
            return who
    for pattern, who in suffixes.items():
        if name.endswith(pattern):
            return who
    return ""


def scanpy_collision(key_added: str) -> str:
    """What of scanpy's a result under ``key_added`` would replace (``''`` when nothing).

    The ``uns`` record is ``key_added`` itself and the embedding ``obsm['X_' + key_added]``
    (the other keys derived from it, ``X_<key>_scales``, ``<key>_loadings``, … are not
    scanpy's).
    """
    found = []
    who = _reserved(key_added, SCANPY_UNS, SCANPY_UNS_PREFIXES, SCANPY_UNS_SUFFIXES)
    if who:
        found.append(f"adata.uns[{key_added!r}] (written by {who})")
    obsm = obsm_key(key_added)
    who = _reserved(obsm, SCANPY_OBSM, SCANPY_OBSM_PREFIXES, {})
    if who:
        found.append(f"adata.obsm[{obsm!r}] (written by {who})")
    return " and ".join(found)


def _unsafe(c: str) -> bool:
    return c in "/\\" or ord(c) < 32 or ord(c) == 127


def key_problem(key: str) -> str:
    """Why ``key`` cannot name an entry of an ``.h5ad`` (or ``.zarr``) file; ``''`` if it can.

    ``'/'`` separates groups in both (``read_h5ad`` cannot read such a file back at all),
    a backslash is a folder separator of zarr on Windows, control characters are cut (NUL ends
    an HDF5 name) and a leading ``'.'`` names ``.``/``..`` or zarr's own metadata.
    """
    reasons = []
    if "/" in key:
        reasons.append(
            "'/' separates groups in .h5ad and .zarr files: read_h5ad could not read the "
            "file back at all"
        )
    if "\\" in key:
        reasons.append("'\\' separates folders of a .zarr store on Windows (the entry is lost)")
    if any(ord(c) < 32 or ord(c) == 127 for c in key):
        reasons.append("control characters are cut from .h5ad names (NUL ends an HDF5 name)")
    if key.startswith("."):
        reasons.append("a leading '.' names '.', '..' or zarr's metadata ('.zattrs')")
    return f"{key!r} cannot name an entry of a file: {'; '.join(reasons)}" if reasons else ""


def safe_key(key: str) -> str:
    """``key`` with every character :func:`key_problem` refuses replaced by ``'_'``."""
    return "".join("_" if _unsafe(c) else c for c in key).lstrip(".") or "result"


def obsm_key(key_added: str) -> str:
    """Embedding key in ``.obsm`` for a result stored under ``key_added``."""
    return f"X_{key_added}"


def loadings_key(key_added: str) -> str:
    """Gene-loading key in ``.varm`` for a result stored under ``key_added``."""
    return f"{key_added}_loadings"


def scales_obsm_key(key_added: str) -> str:
    """Per-scale embedding key (n_obs × T × k) in ``.obsm``."""
    return f"X_{key_added}_scales"


def layer_obsm_key(key_added: str, layer: int) -> str:
    """Cell activities of deep-NMF layer ``layer`` (1-based) in ``.obsm``."""
    return f"X_{key_added}_l{layer}"


def layer_key(key_added: str, layer: int) -> str:
    """Gene programs (``.varm``) and clusters (``.obs``) of deep-NMF layer ``layer``."""
    return f"{key_added}_l{layer}"


@dataclass(frozen=True)
class FactorKeys:
    """Where a one-scale factorisation (``tl.nmf``, ``tl.gnmf``) is stored."""

    #: ``uns`` record (see :class:`FitUns`).
    uns: str
    #: Cell activities W (n_obs × k).
    obsm: str
    #: Gene loadings Hᵀ (n_vars × k).
    varm: str


def factor_keys(key_added: str) -> FactorKeys:
    """The keys of a factorisation stored under ``key_added``."""
    return FactorKeys(uns=key_added, obsm=obsm_key(key_added), varm=loadings_key(key_added))


@dataclass(frozen=True)
class PnmfKeys(FactorKeys):
    """Where ``tl.pnmf`` stores: ``obsm`` at the reference scale, every scale beside it."""

    #: Cell activities at every scale (n_obs × T × k); ``varm`` is then n_vars × T × k.
    obsm_scales: str


def pnmf_keys(key_added: str) -> PnmfKeys:
    """The keys of a persistent NMF stored under ``key_added``."""
    base = factor_keys(key_added)
    return PnmfKeys(base.uns, base.obsm, base.varm, obsm_scales=scales_obsm_key(key_added))


@dataclass(frozen=True)
class DeepKeys:
    """Where ``tl.deep_nmf`` stores its layers (1-based ``layer``)."""

    uns: str

    def obsm(self, layer: int) -> str:
        """Cell activities of ``layer`` (n_obs × r_ℓ)."""
        return layer_obsm_key(self.uns, layer)

    def varm(self, layer: int) -> str:
        """Gene programs of ``layer`` (n_vars × r_ℓ)."""
        return layer_key(self.uns, layer)

    def obs(self, layer: int) -> str:
        """Dominant program of each cell at ``layer`` (categorical)."""
        return layer_key(self.uns, layer)


def deep_keys(key_added: str) -> DeepKeys:
    """The keys of a deep NMF stored under ``key_added``."""
    return DeepKeys(uns=key_added)


@dataclass(frozen=True)
class ConsensusKeys:
    """Where ``tl.consensus_nmf`` stores the consensus of the selected k."""

    #: ``uns`` record (see :class:`ConsensusUns`).
    uns: str
    #: Usage of each program (n_obs × k, rows sum to 1).
    obsm: str
    #: Consensus programs (n_vars × k, columns sum to 1; zero rows for genes masked out).
    programs: str
    #: Gene specificity z-scores (n_vars × k, every gene of the matrix).
    gene_scores: str


def consensus_keys(key_added: str) -> ConsensusKeys:
    """The keys of a consensus NMF stored under ``key_added``."""
    return ConsensusKeys(
        uns=key_added,
        obsm=obsm_key(key_added),
        programs=f"{key_added}_programs",
        gene_scores=f"{key_added}_gene_scores",
    )


def projected_key(key: str) -> str:
    """Default ``key_added`` of ``tl.project`` for the programs under ``key``."""
    return f"{key}_projected"


@dataclass(frozen=True)
class ProjectedKeys:
    """Where ``tl.project`` stores the activities of fixed programs."""

    #: ``uns`` record (see :class:`ProjectUns`).
    uns: str
    #: Activities of the query's cells (n_obs × k).
    obsm: str


def projected_keys(key_added: str) -> ProjectedKeys:
    """The keys of a projection stored under ``key_added`` (default :func:`projected_key`)."""
    return ProjectedKeys(uns=key_added, obsm=obsm_key(key_added))


class FitUns:
    """Entries of ``uns[key_added]`` written by every iterative fit."""

    PARAMS = "params"
    LOSS = "loss"
    N_ITER = "n_iter"
    CONVERGED = "converged"


class NmfUns(FitUns):
    """Entries of ``uns[key_added]`` of ``tl.nmf`` / ``tl.gnmf`` (AGD adds the last three)."""

    ALPHAS = "alphas"
    ALPHA0 = "alpha0"
    WARM_START_LOSS = "warm_start_loss"


class PersistenceUns:
    """Entries of ``uns[key_added]`` of ``tl.persistence``."""

    DIAGRAM = "diagram"
    SCALES = "scales"
    N_COMPONENTS = "n_components"
    CANONICAL_SCALES = "canonical_scales"
    CANONICAL_N_COMPONENTS = "canonical_n_components"
    PARAMS = FitUns.PARAMS
    #: What ``tl.pnmf`` needs from a persistence record.
    REQUIRED = (SCALES, N_COMPONENTS, PARAMS)


class PnmfUns:
    """Entries of ``uns[key_added]`` of ``tl.pnmf``."""

    SCALES = PersistenceUns.SCALES
    N_COMPONENTS = PersistenceUns.N_COMPONENTS
    REFERENCE_SCALE = "reference_scale"
    LOSS = FitUns.LOSS
    N_INNER_ITER = "n_inner_iter"
    PARAMS = FitUns.PARAMS
    SCALE_STABILITY = "scale_stability"


class DeepUns(FitUns):
    """Entries of ``uns[key_added]`` of ``tl.deep_nmf``.

    ``ERRORS`` holds ``DEEP`` and ``MULTILAYER``; ``H`` the merge matrices keyed ``'2'`` …
    ``'L'``.
    """

    RANKS = "ranks"
    H = "H"
    ERRORS = "errors"
    DEEP = "deep"
    MULTILAYER = "multilayer"
    LAYER_LOSS = "layer_loss"
    LAMBDAS = "lambdas"
    ALPHAS = "alphas"


class ConsensusUns:
    """Entries of ``uns[key_added]`` of ``tl.consensus_nmf``.

    ``K_SELECTION`` holds one array per entry of ``SELECTION_FIELDS`` (one value per k tried);
    ``REPLICATES`` describes the replicate programs of the selected k (``REPLICATE_FIELDS``).
    """

    PARAMS = FitUns.PARAMS
    K = "k"
    K_SELECTION = "k_selection"
    STABILITY = "stability"
    ERROR = "error"
    N_KEPT = "n_kept"
    N_FILTERED = "n_filtered"
    SELECTION_FIELDS = (K, STABILITY, ERROR, N_KEPT, N_FILTERED)
    REPLICATES = "replicates"
    LOCAL_DENSITY = "local_density"
    KEPT = "kept"
    LABELS = "labels"
    ORDER = "order"
    CORRELATION = "correlation"
    CORRELATION_INDEX = "correlation_index"
    REPLICATE_FIELDS = (LOCAL_DENSITY, KEPT, LABELS, ORDER, CORRELATION, CORRELATION_INDEX)
    REPLICATE_LOSS = "replicate_loss"
    N_ITER = FitUns.N_ITER
    CONVERGED = FitUns.CONVERGED


class ProgramUns:
    """Entries of ``uns[key_added]`` about a result's programs (any result).

    ``PROGRAM_NAMES`` (written by ``tl.rename_programs``) is a str array, one name per
    program; for deep NMF a dict of them keyed by layer (``'1'`` …). ``OBS_COLUMNS`` lists the
    ``obs`` columns ``add_to_obs=True`` wrote (so a refit may replace them).
    """

    PROGRAM_NAMES = "program_names"
    OBS_COLUMNS = "obs_columns"


def program_prefix(key_added: str, layer: int | None = None) -> str:
    """Start of a result's default program names and activity columns (``'<key>_'``).

    Deep-NMF layer ``layer`` (1-based): ``'<key>_l<layer>_'``.
    """
    return f"{key_added if layer is None else layer_key(key_added, layer)}_"


def default_program_names(key_added: str, n: int, layer: int | None = None) -> list[str]:
    """``'<key>_0'`` … (``'<key>_l<layer>_0'`` … for a deep-NMF layer)."""
    prefix = program_prefix(key_added, layer)
    return [f"{prefix}{j}" for j in range(n)]


def program_column(key_added: str, name: str, layer: int | None = None) -> str:
    """``obs`` column of a program's activities: ``'<key>_<name>'``.

    A name that already starts with the prefix (as the default ``'<key>_0'`` does) is the
    column itself, so ``obs['nmf_0']`` holds program ``'nmf_0'``.
    """
    prefix = program_prefix(key_added, layer)
    return name if name.startswith(prefix) else f"{prefix}{name}"


class ProjectUns:
    """Entries of ``uns[key_added]`` of ``tl.project``.

    ``PROGRAM_NAMES`` holds the reference's names (its :class:`ProgramUns` entry, or the
    defaults); ``WEIGHT_COVERED`` the fraction of each program's loadings on the genes used.
    """

    REFERENCE_KEY = "reference_key"
    REFERENCE_KIND = "reference_kind"
    GENES_USED = "genes_used"
    GENES_MISSING = "genes_missing"
    WEIGHT_COVERED = "weight_covered"
    PROGRAM_NAMES = ProgramUns.PROGRAM_NAMES
    LOSS = FitUns.LOSS
    N_ITER = FitUns.N_ITER
    CONVERGED = FitUns.CONVERGED
    PARAMS = FitUns.PARAMS


EPSILON = float.fromhex("0x1.0p-23")  # float32 machine epsilon: the MU floor (as scikit-learn)
