"""Storage keys and default names, defined once (tests use them too)."""

from __future__ import annotations

# tl.nmf
NMF_KEY = "nmf"


def obsm_key(key_added: str) -> str:
    """Embedding key in ``.obsm`` for a result stored under ``key_added``."""
    return f"X_{key_added}"


def loadings_key(key_added: str) -> str:
    """Gene-loading key in ``.varm`` for a result stored under ``key_added``."""
    return f"{key_added}_loadings"


# tl.persistence / tl.pnmf
PERSISTENCE_KEY = "persistence"
PNMF_KEY = "pnmf"
GNMF_KEY = "gnmf"
#: Representation used for cell–cell distances when present (else ``adata.X``).
DEFAULT_REP = "X_pca"


def scales_obsm_key(key_added: str) -> str:
    """Per-scale embedding key (n_obs × T × k) in ``.obsm``."""
    return f"X_{key_added}_scales"


# tl.deep_nmf
DEEP_NMF_KEY = "deep_nmf"


def layer_obsm_key(key_added: str, layer: int) -> str:
    """Cell activities of deep-NMF layer ``layer`` (1-based) in ``.obsm``."""
    return f"X_{key_added}_l{layer}"


def layer_key(key_added: str, layer: int) -> str:
    """Gene programs (``.varm``) and clusters (``.obs``) of deep-NMF layer ``layer``."""
    return f"{key_added}_l{layer}"


# beta-loss names accepted everywhere
BETA_LOSS_NAMES = {
    "frobenius": 2.0,
    "kullback-leibler": 1.0,
    "itakura-saito": 0.0,
}

EPSILON = float.fromhex("0x1.0p-23")  # float32 machine epsilon: the MU floor (as scikit-learn)
