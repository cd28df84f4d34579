"""Platform operators whose task pages carry links (extra links need an operator class, not ``@task``)."""

from __future__ import annotations

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException

from ct_platform import dagkit
from ct_platform.data_docs import DataDocsLink, data_docs_url


class ValidateBatchOperator(BaseOperator):
    """Validates the landed batch named by ``manifest`` against contract ``contract``; quarantines it on failure.

    Returns the validated batch's summary (to XCom). A rejected batch fails the task without retries (a retry
    cannot fix a bad batch) with the quarantine reason as message. Either way the batch's Data Docs page is
    printed in the log and offered as the task's "Data Docs" extra link.
    """

    template_fields = ("manifest",)
    operator_extra_links = (DataDocsLink(),)

    def __init__(self, *, contract: str, manifest: str, **kwargs):
        super().__init__(**kwargs)
        self.contract = contract
        self.manifest = manifest
        self.data_docs_url: str | None = None

    def execute(self, context):
        from ml.steps.ingest import BatchRejected, validate_landed_batch

        paths = dagkit.paths()
        try:
            validated = validate_landed_batch(paths, dagkit.contract_by_name(self.contract), self.manifest)
        except BatchRejected as rejected:
            self._link(paths, rejected.verdict.get("data_docs_page"))
            raise AirflowFailException(str(rejected)) from None
        self._link(paths, validated.get("data_docs_page"))
        return validated

    def _link(self, paths, page: str | None) -> None:
        self.data_docs_url = data_docs_url(paths, page)
        if page:
            self.log.info("Data Docs of this batch: %s (UI link: %s)", page, self.data_docs_url)
