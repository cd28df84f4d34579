"""Names of the Great Expectations objects derived from a contract (no GX import: the suites use them too)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ml.contract import Contract

if TYPE_CHECKING:
    pass
logger = logging.getLogger(__name__)


DATASOURCE = "ct_batches"


BATCH_DEFINITION = "whole_dataframe"


def asset_name(contract: Contract) -> str:
    return contract.name


# A contract whose labels arrive later (labels.arrive: delayed) gets a second set of objects for batches that
# land without their target: suite `<name>_unlabelled`, validation definition `<name>_unlabelled_batch`,
# checkpoint `<name>_unlabelled_checkpoint`.
def _variant(contract: Contract, labelled: bool) -> str:
    return contract.name if labelled else f"{contract.name}_unlabelled"


def suite_name(contract: Contract, *, labelled: bool = True) -> str:
    return f"{contract.name}_contract" if labelled else _variant(contract, labelled)


def validation_definition_name(contract: Contract, *, labelled: bool = True) -> str:
    return f"{_variant(contract, labelled)}_batch"


def checkpoint_name(contract: Contract, *, labelled: bool = True) -> str:
    return f"{_variant(contract, labelled)}_checkpoint"


def variants(contract: Contract) -> tuple[bool, ...]:
    """``labelled`` values a contract's batches may take: both when its labels may arrive after the batch."""
    return (True, False) if contract.labels_delayed else (True,)
