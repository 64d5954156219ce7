"""Register the latest quickstart model as a new version of "New Registered Model".

Each run of this script registers one more version (a git tag
mltrack/New%20Registered%20Model/v<N>); promote one with
`mltrack models promote "New Registered Model" 1 Production`.
"""

import mltrack as mlflow

runs = mlflow.search_runs(
    experiment_names=["RandomForest_Training"],
    order_by=["attributes.start_time DESC"],
    max_results=1,
    output_format="list",
)
if not runs:
    raise SystemExit("No quickstart run yet: run examples/quickstart.py first.")

version = mlflow.register_model(f"runs:/{runs[0].info.run_id}/model", "New Registered Model")
print(f"Registered 'New Registered Model' version {version.version} from run {version.run_id}")
