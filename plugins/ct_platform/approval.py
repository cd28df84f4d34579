"""The gate's approval step: Airflow's own ApprovalOperator, keeping the answer when it is a rejection."""

from __future__ import annotations

from airflow.providers.standard.operators.hitl import ApprovalOperator

ANSWER_KEY = "answer"


class GateApprovalOperator(ApprovalOperator):
    """Airflow's ``ApprovalOperator`` that also pushes the person's answer to XCom under ``answer``.

    On "Reject" the stock operator skips its downstream tasks by raising before its return value reaches
    XCom, so the rejection (who answered, when) would be lost to the task that records it. Pushing the
    answer first keeps it for both outcomes; the approval itself behaves exactly like the stock operator.
    """

    def execute_complete(self, context, event: dict):
        if "error" not in event:
            answer = {key: event.get(key) for key in ("chosen_options", "responded_by_user", "responded_at")}
            context["ti"].xcom_push(key=ANSWER_KEY, value=answer)
        return super().execute_complete(context, event)
