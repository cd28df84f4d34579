"""Validating one landed batch against its contract; every check is derived from the contract.

Three stages, each short-circuiting the next:

1. **file** (status ``unreadable``): the bytes match the manifest's SHA-256 and parse as a CSV; both are
   checked by streaming the file (:func:`scan_batch_file`), and a file of more rows than the contract allows
   for the batch (``batch.max_rows`` x periods) is refused before it is loaded (status ``quality``), so memory
   is bounded by the contract, not by what lands (:mod:`ml.validation.reading`).
2. **schema** (status ``schema_change``): the columns are the contract's, in any order, and each arrived
   type fits the declared one (:func:`check_schema`).
3. **quality** (status ``quality``): the Great Expectations suite derived from the contract
   (:func:`build_expectation_suite`). What differs per batch (its period, production time and row bounds)
   reaches the suite as suite parameters (:func:`expectation_parameters`), so one stored suite serves every
   batch and the GX project is written only at bootstrap (:mod:`ml.validation.gx_project`).

With ``gx_root`` the contract's Checkpoint runs, which stores the result and updates Data Docs; without it
an in-memory context validates (tests, CLI). A corrupt batch is a verdict with reasons, never an exception.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, NamedTuple

import pandas as pd

from ml.contract import Contract
from ml.data.batches import BatchManifest
from ml.files import file_sha256
from ml.validation.common import (
    PASSED,
    QUALITY,
    RESULT_FORMAT,
    SCHEMA_CHANGE,
    UNREADABLE,
    BatchReadError,
    CheckFailure,
    ValidationVerdict,
    utc_timestamp,
)
from ml.validation.expectations import (
    batch_periods,
    build_expectation_suite,
    expectation_parameters,
)
from ml.validation.explain import gx_failures
from ml.validation.gx_names import BATCH_DEFINITION, DATASOURCE, asset_name
from ml.validation.gx_project import GxProjectError
from ml.validation.reading import (
    FileShape,
    load_batch_file,
    scan_batch_file,
)
from ml.validation.schema import (
    arrived_types,
    check_schema,
    declared_types,
    to_contract_types,
)

logger = logging.getLogger(__name__)

ROW_COUNT_CHECK = "expect_table_row_count_to_be_between"  # the GX check of the same rule, for one name in reports

# --------------------------------------------------------------------------------------------- entry point


class _GxRun(NamedTuple):
    result: Any  # ExpectationSuiteValidationResult
    result_path: str | None
    docs_path: str | None
    docs_page: str | None = None


def validate_batch(
    path: Path, manifest: BatchManifest, contract: Contract, *, gx_root: Path | None = None
) -> tuple[ValidationVerdict, pd.DataFrame | None]:
    """Validate the batch file at ``path`` that ``manifest`` declares; return the verdict and, when it
    passed, the batch in contract types (timestamps tz-aware UTC).

    With ``gx_root`` holding a project made by :func:`ml.validation.gx_project.init_gx_project`, the contract's
    Checkpoint runs (result stored, Data Docs updated); otherwise an in-memory context validates.
    """
    started = time.perf_counter()
    verdict, typed = _validate(Path(path), manifest, contract, gx_root)
    logger.info(
        "batch %s of %s: %s (%d rows, %d failed checks, %.2f s)",
        manifest.batch_id, contract.name, verdict.status, verdict.rows, len(verdict.failures),
        time.perf_counter() - started,
    )  # fmt: skip
    return verdict, typed


def _validate(
    path: Path, manifest: BatchManifest, contract: Contract, gx_root: Path | None
) -> tuple[ValidationVerdict, pd.DataFrame | None]:
    def make(status: str, failures: list[CheckFailure], rows: int = 0, **extra: Any) -> ValidationVerdict:
        return ValidationVerdict(manifest.batch_id, status, tuple(failures), rows, **extra)

    problem = _manifest_problem(manifest, contract) or checksum_problem(path, manifest)
    if problem is not None:
        return make(UNREADABLE, [problem]), None
    try:
        shape = scan_batch_file(path)
        too_many = _too_many_rows(path, shape, manifest, contract)
        if too_many is not None:
            return make(QUALITY, [too_many], shape.rows), None
        frame = load_batch_file(path, contract)
    except BatchReadError as error:
        return make(UNREADABLE, [CheckFailure("file.unreadable", None, str(error))]), None
    # With labels.arrive: delayed a batch may land without its target; it is then checked without it.
    labelled = not contract.labels_delayed or contract.target in frame.columns
    schema_failures = check_schema(frame, contract, labelled=labelled)
    if schema_failures:
        before, after = declared_types(contract), arrived_types(frame)
        return make(SCHEMA_CHANGE, schema_failures, len(frame), schema_before=before, schema_after=after), None
    typed = to_contract_types(frame, contract, labelled=labelled)
    parameters = expectation_parameters(manifest, contract)
    run = _run_suite(typed, manifest, contract, parameters, gx_root, labelled)
    failures = gx_failures(run.result, contract, parameters)
    status = PASSED if run.result.success and not failures else QUALITY
    verdict = make(
        status,
        failures,
        len(typed),
        gx_success=bool(run.result.success),
        gx_result_path=run.result_path,
        data_docs_path=run.docs_path,
        data_docs_page=run.docs_page,
    )
    return verdict, (typed if verdict.passed else None)


def _too_many_rows(path: Path, shape: FileShape, manifest: BatchManifest, contract: Contract) -> CheckFailure | None:
    """A file of more rows than the contract allows is refused before it is loaded: memory stays bounded."""
    limit = expectation_parameters(manifest, contract)["max_rows"]
    if shape.rows <= limit:
        return None
    message = (
        f"{path.name} holds {shape.rows} rows, more than the {limit} contract {contract.name!r} allows for this "
        f"batch (batch.max_rows {contract.batch.max_rows} x {batch_periods(manifest, contract)} period(s)); it was "
        "not loaded, so validation memory stays bounded: split it into smaller batches, or raise batch.max_rows"
    )
    return CheckFailure(ROW_COUNT_CHECK, None, message, [shape.rows])


def checksum_problem(
    path: Path, manifest: BatchManifest, *, what: str = "data file", republish: str = "the batch"
) -> CheckFailure | None:
    """The file a manifest names is unreadable or not the one it describes (sha256), else None."""
    try:
        digest = file_sha256(path)  # streamed: the file is never held in memory whole
    except OSError as error:
        return CheckFailure(
            "file.missing",
            None,
            f"cannot read {what} {path} named by the manifest ({error.strerror}); re-publish {republish}",
        )
    if digest != manifest.sha256:
        return CheckFailure(
            "file.checksum",
            None,
            f"{path.name} does not match its manifest (sha256 "
            f"{digest[:12]}... vs {manifest.sha256[:12]}...): the file is corrupt, half-written or "
            f"was replaced; re-publish {republish}",
        )
    return None


def _manifest_problem(manifest: BatchManifest, contract: Contract) -> CheckFailure | None:
    if manifest.contract != contract.name:
        message = (
            f"manifest names contract {manifest.contract!r} but was validated against {contract.name!r}: move "
            f"the batch to the landing folder of {manifest.contract!r}"
        )
        return CheckFailure("manifest.contract", None, message)
    if manifest.format != "csv":
        message = f"manifest declares format {manifest.format!r}; batches must be CSV files"
        return CheckFailure("file.format", None, message)
    try:
        start, end = utc_timestamp(manifest.period_start), utc_timestamp(manifest.period_end)
        utc_timestamp(manifest.produced_at)
    except (ValueError, TypeError) as error:
        message = f"manifest has a timestamp that does not parse ({error}); the producer must rewrite it"
        return CheckFailure("manifest.invalid", None, message)
    if end <= start:
        message = f"manifest period [{start}, {end}) is empty; the producer must rewrite the manifest"
        return CheckFailure("manifest.invalid", None, message)
    return None


def _run_suite(
    frame: pd.DataFrame,
    manifest: BatchManifest,
    contract: Contract,
    parameters: dict,
    gx_root: Path | None,
    labelled: bool = True,
) -> _GxRun:
    if gx_root is not None:
        try:
            return _run_checkpoint(Path(gx_root), frame, manifest, contract, parameters, labelled)
        except GxProjectError as error:
            logger.warning("%s; validating batch %s in memory, without Data Docs", error, manifest.batch_id)
    suite = build_expectation_suite(contract, labelled=labelled)
    return _GxRun(validate_in_memory(frame, contract, parameters, suite), None, None)


def validate_in_memory(frame: pd.DataFrame, contract: Contract, parameters: dict, suite: Any) -> Any:
    """Run ``suite`` on ``frame`` in an ephemeral GX context (nothing written); the GX suite result."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(),
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),
    )
    context = gx.get_context(mode="ephemeral", project_config=config)
    asset = context.data_sources.add_pandas(DATASOURCE).add_dataframe_asset(asset_name(contract))
    batch = asset.add_batch_definition_whole_dataframe(BATCH_DEFINITION).get_batch(
        batch_parameters={"dataframe": frame}
    )
    return batch.validate(suite, expectation_parameters=parameters, result_format=RESULT_FORMAT)


def _run_checkpoint(
    gx_root: Path,
    frame: pd.DataFrame,
    manifest: BatchManifest,
    contract: Contract,
    parameters: dict,
    labelled: bool = True,
) -> _GxRun:
    from great_expectations.core.run_identifier import RunIdentifier

    from ml.validation.gx_project import (
        contract_checkpoint,
        data_docs_index,
        data_docs_page,
        open_gx_project,
        validation_result_path,
    )

    context = open_gx_project(gx_root)
    checkpoint = contract_checkpoint(context, contract, labelled=labelled)
    # the run is named by the batch and timed by its production, so re-validating a batch replaces its result
    run_id = RunIdentifier(run_name=manifest.batch_id, run_time=parameters["produced_at"].to_pydatetime())
    outcome = checkpoint.run(batch_parameters={"dataframe": frame}, expectation_parameters=parameters, run_id=run_id)
    key, result = next(iter(outcome.run_results.items()))
    result_path = validation_result_path(context, key)
    docs_path = data_docs_index(context)
    page = data_docs_page(context, key)
    return _GxRun(
        result,
        str(result_path) if result_path else None,
        str(docs_path) if docs_path else None,
        str(page) if page else None,
    )
