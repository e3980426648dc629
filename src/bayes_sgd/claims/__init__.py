"""The claims: verdicts on the paper's statements (and on this project's extension), judged from
the computed tables by one registry with one set of thresholds.

* :mod:`~bayes_sgd.claims.registry`: the mechanism (a claim's id, statement, input tables and
  verdict; :class:`ClaimThresholds`; :func:`evaluate_claims`), re-exported here;
* :mod:`~bayes_sgd.claims.logistic` (Figures 1-2), :mod:`~bayes_sgd.claims.batch_size`
  (Figures 3-4), :mod:`~bayes_sgd.claims.scaling` (Figures 5-7),
  :mod:`~bayes_sgd.claims.appendices` (Figures 8-9): the paper's claims, registered in the
  paper's order when this package is imported, then :mod:`~bayes_sgd.claims.evidence` (the
  evidence of trained networks, our extension, with the ``evidence.claims`` thresholds);
* :mod:`~bayes_sgd.claims.formatting`: how numbers are written;
* :mod:`~bayes_sgd.claims.report`: the claims report, rendered from the judged claims.
"""

from bayes_sgd.claims.registry import (  # noqa: F401
    CLAIMS,
    DOES_NOT_HOLD,
    HOLDS,
    NOT_MEASURED,
    TABLES,
    UNDECIDED,
    VERDICTS,
    PAPER_THRESHOLDS,
    Claim,
    ClaimResult,
    ClaimThresholds,
    claim,
    claims_judged_with,
    claims_table,
    evaluate_claims,
    missing,
    result,
)
from bayes_sgd.claims import logistic, batch_size, scaling, appendices, evidence  # noqa: E402,F401  (registration order)
from bayes_sgd.claims.logistic import *  # noqa: E402,F401,F403
from bayes_sgd.claims.batch_size import *  # noqa: E402,F401,F403
from bayes_sgd.claims.scaling import *  # noqa: E402,F401,F403
from bayes_sgd.claims.appendices import *  # noqa: E402,F401,F403
from bayes_sgd.claims.evidence import EvidenceThresholds, evidence_peaks  # noqa: E402,F401
