"""The Great Expectations project on disk: created once at platform bootstrap, only read afterwards.

``init_gx_project`` writes a file Data Context under ``<gx_root>/gx`` with one pandas data source and,
per contract, a dataframe asset, a whole-dataframe batch definition, the expectation suite derived from
the contract (:func:`ml.validation.build_expectation_suite`), a ValidationDefinition and a Checkpoint that
updates Data Docs. Every ``add`` rewrites project files and concurrent writers corrupt them (GX #8294), so
validation runs only ``get`` these objects and run the checkpoint; nothing else writes the project.

Names (for the contract ``weather``): data source ``ct_batches``, asset ``weather``, batch definition
``whole_dataframe``, suite ``weather_contract``, validation definition ``weather_batch``, checkpoint
``weather_checkpoint``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

from ml.contract import Contract
from ml.validation.gx_names import (
    BATCH_DEFINITION,
    DATASOURCE,
    asset_name,
    checkpoint_name,
    validation_definition_name,
    variants,
)

if TYPE_CHECKING:
    from great_expectations.checkpoint import Checkpoint
    from great_expectations.data_context import FileDataContext

logger = logging.getLogger(__name__)

DATA_DOCS_ACTION = "update_data_docs"
_CONTEXT_DIR = "gx"  # GX scaffolds its context in <project root>/gx


class GxProjectError(RuntimeError):
    """The GX project is missing, incomplete or out of date with a contract."""


def project_config_path(gx_root: Path) -> Path:
    """``great_expectations.yml`` of the project whose root is ``gx_root``."""
    return Path(gx_root) / _CONTEXT_DIR / "great_expectations.yml"


def project_exists(gx_root: Path) -> bool:
    return project_config_path(gx_root).is_file()


def init_gx_project(gx_root: Path, contracts: list[Contract]) -> None:
    """Create (or complete) the file project at ``gx_root`` for ``contracts``; safe to call again.

    Missing objects are added; a suite that no longer matches its contract is rewritten (its id kept, so
    the ValidationDefinition and Checkpoint still point at it). Nothing is written when all is up to date.
    Call it from bootstrap only: it is the single writer of the project.
    """
    import great_expectations as gx

    context = gx.get_context(mode="file", project_root_dir=Path(gx_root))
    _quiet(context)
    datasource = _ensure_datasource(context)
    for contract in contracts:
        _ensure_contract_objects(context, datasource, contract)
    logger.info("GX project at %s holds %d contract(s): %s", gx_root, len(contracts), [c.name for c in contracts])


def open_gx_project(gx_root: Path) -> FileDataContext:
    """The existing file project at ``gx_root`` (read only); raise :class:`GxProjectError` if absent."""
    if not project_exists(gx_root):
        raise GxProjectError(f"no GX project at {gx_root}: run the platform bootstrap (init_gx_project) first")
    import great_expectations as gx

    return gx.get_context(mode="file", project_root_dir=Path(gx_root))


def contract_checkpoint(context: FileDataContext, contract: Contract, *, labelled: bool = True) -> Checkpoint:
    """The contract's checkpoint, after checking that its suite is still the one the contract derives.

    ``labelled=False``: the checkpoint for batches that land without their target (``labels.arrive: delayed``).
    """
    from great_expectations.exceptions import DataContextError

    from ml.validation.expectations import build_expectation_suite

    name = checkpoint_name(contract, labelled=labelled)
    try:
        checkpoint = context.checkpoints.get(name)
    except DataContextError:
        raise GxProjectError(
            f"GX project has no checkpoint {name!r}: re-run the platform bootstrap "
            f"(init_gx_project) so that it covers contract {contract.name!r}"
        ) from None
    stored = checkpoint.validation_definitions[0].suite
    if suite_signature(stored) != suite_signature(build_expectation_suite(contract, labelled=labelled)):
        raise GxProjectError(
            f"GX suite {stored.name!r} no longer matches contract {contract.name!r} (the contract or the suite "
            "builder changed since bootstrap): re-run the platform bootstrap (init_gx_project)"
        )
    return checkpoint


def suite_signature(suite: Any) -> list[dict]:
    """What makes two suites equal for us: each expectation's type, arguments, meta and severity (not ids)."""
    signature = []
    for expectation in suite.expectations:
        entry = expectation.configuration.to_json_dict()
        entry.pop("id", None)
        signature.append(entry)
    return signature


def data_docs_index(context: Any) -> Path | None:
    """Local path of the first Data Docs site's index page, or None when no site is local."""
    for site in context.get_docs_sites_urls(only_if_exists=False):
        url = site.get("site_url") or ""
        if url.startswith("file://"):
            return Path(unquote(urlparse(url).path))
    return None


def data_docs_page(context: Any, result_key: Any) -> Path | None:
    """Local path of one validation's own Data Docs page (the one a person opens), or None when not on disk."""
    for site in context.get_docs_sites_urls(resource_identifier=result_key, only_if_exists=False):
        url = site.get("site_url") or ""
        if url.startswith("file://"):
            path = Path(unquote(urlparse(url).path))
            if path.is_file():
                return path
    return None


def data_docs_site_root(gx_root: Path) -> Path:
    """Folder of the local Data Docs site (``index.html`` and the pages under it) of the project at ``gx_root``."""
    return Path(gx_root) / _CONTEXT_DIR / "uncommitted" / "data_docs" / "local_site"


def validation_result_path(context: Any, result_key: Any) -> Path | None:
    """Local path of a stored validation result (the JSON GX wrote), or None when it is not on disk."""
    backend = context.validation_results_store.store_backend
    base = getattr(backend, "full_base_directory", None)
    if base is None:
        return None
    *folders, name = result_key.to_tuple()
    path = Path(base).joinpath(*folders, f"{name}.json")
    return path if path.is_file() else None


def _quiet(context: FileDataContext) -> None:
    """No progress bars in task logs, analytics off; written once, only when not already so."""
    from great_expectations.data_context.types.base import ProgressBarsConfig

    variables = context.variables
    bars = variables.progress_bars
    bars_on = bars.get("globally") if isinstance(bars, dict) else getattr(bars, "globally", True)
    if variables.analytics_enabled is False and bars_on is False:
        return
    variables.analytics_enabled = False
    variables.progress_bars = ProgressBarsConfig(globally=False)
    variables.save()


def _ensure_datasource(context: FileDataContext) -> Any:
    try:
        return context.data_sources.get(DATASOURCE)
    except KeyError:
        return context.data_sources.add_pandas(DATASOURCE)


def _ensure_contract_objects(context: FileDataContext, datasource: Any, contract: Contract) -> None:
    import great_expectations as gx
    from great_expectations.checkpoint import UpdateDataDocsAction
    from great_expectations.exceptions import DataContextError

    from ml.validation.common import RESULT_FORMAT

    try:
        asset = datasource.get_asset(asset_name(contract))
    except LookupError:
        asset = datasource.add_dataframe_asset(asset_name(contract))
    try:
        batch_definition = asset.get_batch_definition(BATCH_DEFINITION)
    except KeyError:
        batch_definition = asset.add_batch_definition_whole_dataframe(BATCH_DEFINITION)
    for labelled in variants(contract):
        suite = _ensure_suite(context, contract, labelled)
        name = validation_definition_name(contract, labelled=labelled)
        try:
            validation = context.validation_definitions.get(name)
        except DataContextError:
            validation = context.validation_definitions.add(
                gx.ValidationDefinition(name=name, data=batch_definition, suite=suite)
            )
        try:
            context.checkpoints.get(checkpoint_name(contract, labelled=labelled))
        except DataContextError:
            context.checkpoints.add(
                gx.Checkpoint(
                    name=checkpoint_name(contract, labelled=labelled),
                    validation_definitions=[validation],
                    actions=[UpdateDataDocsAction(name=DATA_DOCS_ACTION)],
                    result_format=RESULT_FORMAT,
                )
            )


def _ensure_suite(context: FileDataContext, contract: Contract, labelled: bool = True) -> Any:
    from great_expectations.exceptions import DataContextError

    from ml.validation.expectations import build_expectation_suite

    wanted = build_expectation_suite(contract, labelled=labelled)
    try:
        stored = context.suites.get(wanted.name)
    except DataContextError:
        return context.suites.add(wanted)
    if suite_signature(stored) == suite_signature(wanted):
        return stored
    logger.info("GX suite %s differs from contract %s: rewriting it", wanted.name, contract.name)
    return context.suites.add_or_update(wanted)
