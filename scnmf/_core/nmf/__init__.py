"""β-NMF: one entry (:func:`fit_nmf`), one loop (:mod:`.loop`), ops per backend.

Layout: :mod:`.loop` (the alternating loop), :mod:`.mu` and :mod:`.hals` (the solvers' steps,
written once), :mod:`.ops_numpy`, :mod:`.ops_torch` and :mod:`.ops_dask` (what each backend
supplies), :mod:`.init` (starts), :mod:`.agd` (Li & Liang's refinement), :mod:`.beta`
(losses), :mod:`.result`.
"""

from .fit import NMFFit, fit_nmf, hals, mu, run_solver
from .result import NMFResult

__all__ = ["NMFFit", "NMFResult", "fit_nmf", "hals", "mu", "run_solver"]
