"""Architecture search: an Optuna study over a declared space, scored by a surrogate.

Cheap hardware constraints are checked before the surrogate is asked, studies live in a
journal file (default) or any Optuna RDB shared by many workers with an exact global
budget, and winners go to the user zoo. No torch is imported unless `verify_run` trains.
"""

from __future__ import annotations

from analognas._storage import FlockLock, mask_url, open_storage
from analognas.search._errors import SearchError
from analognas.search._importance import param_importances
from analognas.search._load import SearchRun, load_run
from analognas.search._objectives import DEFAULT_OBJECTIVES, OBJECTIVES, Direction, Objective, parse_objectives
from analognas.search._probe import Probe, probe_constraints
from analognas.search._register import pick_candidate, register_winner
from analognas.search._results import Candidate, best_candidate, pareto_axes, pareto_front, read_trials_csv
from analognas.search._run import RunFolder, resolve_run_dir
from analognas.search._run_export import (
    MIN_IMPORTANCE_TRIALS,
    REFERENCE_ARCHS,
    REPORT_FILE,
    content_digest,
    importance_key,
    importance_pool,
    predict_references,
    read_report,
    references_key,
    report_value,
)
from analognas.search._search import (
    SAMPLERS,
    SearchConfig,
    SearchProgress,
    SearchResult,
    default_run_name,
    make_sampler,
    run_search,
)
from analognas.search._space_params import distributions
from analognas.search._surrogate_link import SurrogateLink, link_surrogate
from analognas.search._verify import (
    Verification,
    VerifyRequest,
    VerifyResult,
    check_verify_fidelity,
    refit_surrogate,
    top_candidates,
    verify_run,
)

__all__ = [
    "DEFAULT_OBJECTIVES",
    "MIN_IMPORTANCE_TRIALS",
    "OBJECTIVES",
    "REFERENCE_ARCHS",
    "REPORT_FILE",
    "SAMPLERS",
    "Candidate",
    "Direction",
    "FlockLock",
    "Objective",
    "Probe",
    "RunFolder",
    "SearchConfig",
    "SearchError",
    "SearchProgress",
    "SearchResult",
    "SearchRun",
    "SurrogateLink",
    "Verification",
    "VerifyRequest",
    "VerifyResult",
    "best_candidate",
    "check_verify_fidelity",
    "content_digest",
    "default_run_name",
    "distributions",
    "importance_key",
    "importance_pool",
    "link_surrogate",
    "load_run",
    "make_sampler",
    "mask_url",
    "open_storage",
    "param_importances",
    "pareto_axes",
    "pareto_front",
    "parse_objectives",
    "pick_candidate",
    "predict_references",
    "probe_constraints",
    "read_report",
    "read_trials_csv",
    "references_key",
    "refit_surrogate",
    "register_winner",
    "report_value",
    "resolve_run_dir",
    "run_search",
    "top_candidates",
    "verify_run",
]
