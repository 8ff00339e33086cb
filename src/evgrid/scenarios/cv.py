"""K-fold splits by whole unit (day or session), stratified by calendar label where possible.

The generators' cross-validation by whole day over the training days is ``holdout.cross_validate_days``
(parameter ``gan.holdout.cv_folds``); this module keeps the unit-level fold maker.
"""

from __future__ import annotations

import logging

import numpy as np
from sklearn.model_selection import KFold, StratifiedKFold

from evgrid.scenarios.data import FamilyData
from evgrid.scenarios.errors import ScenarioDataError

log = logging.getLogger(__name__)


def make_folds(data: FamilyData, labels: np.ndarray, n_folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train_idx, test_idx) per fold over whole units; stratified by label where every label can be."""
    uniq, counts = np.unique(data.unit_ids, return_counts=True)
    if np.any(counts > 1):
        raise ScenarioDataError(
            f"family {data.family!r}: unit {uniq[counts > 1][0]!r} appears {counts.max()} times; each day or "
            "session must be one row so that it lands in exactly one fold"
        )
    _, lab_counts = np.unique(labels, return_counts=True)
    if lab_counts.min() >= n_folds:
        splitter = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
        return [(tr, te) for tr, te in splitter.split(np.zeros(len(labels)), labels)]
    log.info("family %s: a calendar label has < %d units, folds are not stratified", data.family, n_folds)
    splitter = KFold(n_splits=n_folds, shuffle=True, random_state=seed)
    return [(tr, te) for tr, te in splitter.split(np.zeros(len(labels)))]
