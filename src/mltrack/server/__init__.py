"""``mltrack server``: MLflow's tracking REST API over the git-backed store.

The stock MLflow client (``mlflow.set_tracking_uri("http://127.0.0.1:5000")``)
works against it unchanged; every run it logs is committed to the repository
when it ends. Modules, one noun each:

- ``app``: the ASGI app, its error table, serving with uvicorn;
- ``config``: settings and the ``--backend-store-uri`` checks;
- ``backend``: the library objects one server process uses;
- ``protocol``: MLflow's JSON shapes, request fields, paging, the route table;
- ``tracking``: experiments, runs, metrics;
- ``logged_models``: MLflow 3 logged models;
- ``registry``: registered models and model versions;
- ``artifacts``: the ``mlflow-artifacts`` proxy (streamed uploads and downloads);
- ``graphql_api``: ``/graphql`` (MLflow's web UI), each field a route above;
  ``graphql_schema``: MLflow's GraphQL schema;
- ``mlflow_ui``: ``--mlflow-ui``, the installed MLflow's own web UI at ``/mlflow/``;
- ``limits``: request body limits, before every route;
- ``auth``: ``--auth``'s middleware: who is asking, may they, and in whose name it is committed;
- ``policy``: which permission each route needs; ``permissions``: MLflow's levels;
- ``credentials``: users, tokens and grants (SQLite under ``.git/mltrack/``);
- ``access``: the user and permission endpoints of MLflow's basic-auth app.

Only this package imports the web framework (Starlette, served by uvicorn).
"""
