"""The MLflow pyfunc entry point of every model version (models from code: this file is logged, not pickled).

MLflow runs this file when it loads a version; ``ct_scoring`` is the copy logged with the version
(``code_paths``), and the ``model`` artifact is the trained model's folder. Input: a DataFrame of exactly the
contract's feature columns (the signature names them); output: one score per row. A request with missing,
extra or mistyped columns is refused with MLflow's INVALID_PARAMETER_VALUE, which its scoring server answers
with HTTP 400 and the message naming the columns.
"""

try:
    import ct_scoring  # the copy logged with the model (code_paths): how every load finds it
except ImportError:  # MLflow also runs this file while saving a model, in the platform's own process
    from ml.serving import ct_scoring
import mlflow
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE


class ContinuousTrainingModel(mlflow.pyfunc.PythonModel):
    def load_context(self, context):
        self.scorer = ct_scoring.load_scorer(context.artifacts["model"])

    def predict(self, context, model_input, params=None):
        try:
            ct_scoring.check_columns(model_input, self.scorer.spec)
            return ct_scoring.score(self.scorer, model_input)
        except ct_scoring.ServingInputError as error:
            raise MlflowException(str(error), error_code=INVALID_PARAMETER_VALUE) from None


mlflow.models.set_model(ContinuousTrainingModel())
