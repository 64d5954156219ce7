"""``/graphql``: MLflow's GraphQL endpoint, the one its web UI reads runs, experiments and
metric charts through.

- The schema is MLflow 3.17.2's (:mod:`mltrack.server.graphql_schema`). Each root
  field is one REST route: its ``input`` becomes that route's request fields
  (``runIds`` → ``run_ids``) and the route's own function (``server/tracking.py``,
  ``server/registry.py``) answers; the fields then read MLflow's JSON answer, with
  protobuf's default for what it leaves out (``""``, ``"0"``, ``[]``), as MLflow's
  server answers from protobuf messages. A run's ``experiment`` and
  ``modelVersions`` are ``experiments/get`` and ``model-versions/search`` for it.
- Before execution, MLflow's limits on one query: depth 10, 1000 selections in all,
  at most 10 root fields and 10 aliases in one selection set (the last two from
  ``MLFLOW_SERVER_GRAPHQL_MAX_ROOT_FIELDS`` / ``..._MAX_ALIASES`` if set), with
  MLflow's messages; and mltrack's own, at most 10,000 tokens, checked while parsing.
- The answer is MLflow's: 200 ``{"data": ..., "errors": [message, ...] | null}``,
  errors as plain strings. A query that does not parse or validate, a limit, a
  refused input: an error there, never a 500. A body that is not a JSON object, or
  has no ``query``: 400 as the REST routes answer.
- With ``--auth`` the middleware has authenticated the request; each root field
  then runs the permission check of the REST route it mirrors
  (:mod:`mltrack.server.policy`), and searches answer with what the user may read.

Imported only when ``/graphql`` is first asked (graphql-core is not needed before).
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLEnumType,
    GraphQLError,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLResolveInfo,
    GraphQLScalarType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    StringValueNode,
    ValueNode,
    build_schema,
    execute_sync,
    parse,
    validate,
)
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from mltrack import http_guard
from mltrack.exceptions import InvalidParameterValue, MltrackError
from mltrack.server import registry, tracking
from mltrack.server.graphql_schema import SDL
from mltrack.server.protocol import Handler, Params, json_response

if TYPE_CHECKING:
    from mltrack.server.backend import Backend
    from mltrack.server.policy import Access

__all__ = ["MAX_DEPTH", "MAX_SELECTIONS", "MAX_TOKENS", "answer", "check_limits", "schema"]

logger = logging.getLogger("mltrack.server")

MAX_DEPTH = 10
MAX_SELECTIONS = 1000
# Parsing is the one cost paid before any limit is checked (seconds per 50,000 tokens on a busy
# machine; a body may hold 16 MB). MLflow's UI sends a few hundred; 1000 selections take ~4,000.
MAX_TOKENS = 10_000
MAX_ROOT_FIELDS_ENV = "MLFLOW_SERVER_GRAPHQL_MAX_ROOT_FIELDS"
MAX_ALIASES_ENV = "MLFLOW_SERVER_GRAPHQL_MAX_ALIASES"
_DEFAULT_LIMIT = 10
_API = "/api/2.0/mlflow/"
_CAMEL_HUMP = re.compile(r"(?<!^)(?=[A-Z])")


# ---------------------------------------------------------------------- the request


async def answer(request: Request) -> Response:
    """``GET`` or ``POST /graphql``: a JSON body ``{"query", "variables", "operationName"}``
    (MLflow's UI POSTs it; MLflow's server also reads it from a GET's body), or, on a GET,
    the same as query-string parameters."""
    if request.method == "GET" and "query" in request.query_params:
        fields = dict(request.query_params)
        if "variables" in fields:
            try:
                fields["variables"] = json.loads(fields["variables"])
            except (ValueError, RecursionError) as error:
                raise InvalidParameterValue(f"Malformed JSON in 'variables': {error}") from None
        req = Params(fields)
    else:
        req = Params.from_body(await request.body())
    query = req.required("query")
    operation = req.string("operationName")
    variables = req.fields.get("variables")
    if variables is not None and not isinstance(variables, dict):
        raise InvalidParameterValue("'variables' must be a JSON object.")
    context = Context(request.app.state.backend, _access(request))
    result = await run_in_threadpool(run, query, variables, operation, context)
    return json_response(result)


def _access(request: Request) -> Access | None:
    policy = request.app.state.policy
    if policy is None:
        return None
    from mltrack.server.auth import USER_SCOPE_KEY
    from mltrack.server.policy import Access

    return Access(policy, request.scope[USER_SCOPE_KEY])


@dataclass
class Context:
    """What one GraphQL request's resolvers share."""

    backend: Backend
    access: Access | None  # None: the server runs without --auth
    experiments: dict[str, dict[str, Any]] = field(default_factory=dict)  # runs' experiments


def run(
    query: str, variables: dict[str, Any] | None, operation: str | None, context: Context
) -> dict[str, Any]:
    """Parse, check the limits, validate and execute one query: MLflow's answer body."""
    try:
        document = parse(query, max_tokens=MAX_TOKENS)
    except GraphQLError as error:
        return {"data": None, "errors": [error.message]}
    refused = check_limits(document)
    if refused is not None:
        return {"data": None, "errors": [refused]}
    invalid = validate(schema, document)
    if invalid:
        return {"data": None, "errors": [error.message for error in invalid]}
    result = execute_sync(
        schema,
        document,
        context_value=context,
        variable_values=variables,
        operation_name=operation,
        field_resolver=_read_field,
    )
    errors = [_message(error, context) for error in result.errors or ()]
    return {"data": result.data, "errors": errors or None}


def _message(error: GraphQLError, context: Context) -> str:
    original = error.original_error
    if isinstance(original, MltrackError):
        return http_guard.redact(original.message, [context.backend.config.repo_root])
    if original is not None and not isinstance(original, GraphQLError):
        logger.error(
            "GraphQL field %s failed", ".".join(map(str, error.path or ())), exc_info=original
        )
        return f"Unexpected {type(original).__name__}; the server's log has the details."
    return error.message


# ---------------------------------------------------------------------- limits


def check_limits(document: DocumentNode) -> str | None:
    """Why the query is refused before it runs (too deep, too many selections, root fields
    or aliases in one selection set), or None. Fragments count where they are spread."""
    fragments = {
        definition.name.value: definition
        for definition in document.definitions
        if isinstance(definition, FragmentDefinitionNode)
    }
    root_fields = most_aliases = selections = 0
    for definition in document.definitions:
        if not isinstance(definition, OperationDefinitionNode):
            continue
        pending: list[tuple[SelectionSetNode, int]] = [(definition.selection_set, 1)]
        while pending:
            selection_set, depth = pending.pop()
            if depth > MAX_DEPTH:
                return f"Query exceeds maximum depth of {MAX_DEPTH}"
            fields = list(_fields_of(selection_set, fragments))
            most_aliases = max(most_aliases, sum(1 for node in fields if node.alias))
            for node in fields:
                selections += 1
                if selections > MAX_SELECTIONS:
                    return f"Query exceeds maximum total selections of {MAX_SELECTIONS}"
                if depth == 1:
                    root_fields += 1
                if node.selection_set is not None:
                    pending.append((node.selection_set, depth + 1))
    for what, count, env in (
        ("root fields", root_fields, MAX_ROOT_FIELDS_ENV),
        ("aliases", most_aliases, MAX_ALIASES_ENV),
    ):
        limit = _limit(env)
        if count > limit:
            return (
                f"GraphQL queries should have at most {limit} {what}, got {count} {what}. "
                f"To increase the limit, set the {env} environment variable."
            )
    return None


def _fields_of(
    selection_set: SelectionSetNode, fragments: dict[str, FragmentDefinitionNode]
) -> Iterator[FieldNode]:
    """The fields selected at one level, fragments (inline or spread, each once) merged in."""
    queue = list(selection_set.selections)
    spread: set[str] = set()
    while queue:
        node = queue.pop()
        if isinstance(node, FieldNode):
            yield node
        elif isinstance(node, InlineFragmentNode):
            queue.extend(node.selection_set.selections)
        elif isinstance(node, FragmentSpreadNode) and node.name.value not in spread:
            spread.add(node.name.value)
            fragment = fragments.get(node.name.value)
            if fragment is not None:
                queue.extend(fragment.selection_set.selections)


def _limit(env: str) -> int:
    """The server's limit from MLflow's variable; its default when unset or not a number."""
    try:
        return int(os.environ.get(env, _DEFAULT_LIMIT))
    except ValueError:
        return _DEFAULT_LIMIT


# ---------------------------------------------------------------------- root fields


def _call(
    info: GraphQLResolveInfo, method: str, path: str, handler: Handler, fields: dict[str, Any]
) -> dict[str, Any]:
    """The REST route ``method path`` for these fields: its permission check, its function,
    and (for a search) what of the answer the user may read."""
    context: Context = info.context
    req = Params(fields)
    access = context.access
    route = None
    if access is not None and not access.user.is_admin:
        route = access.policy.route(method, _API + path)
        route.check(access, req)
    found = handler(req, context.backend) or {}
    if route is not None and route.answer_filter is not None:
        assert access is not None
        found = route.answer_filter(access, found)
    return found


def _request_fields(input: dict[str, Any] | None) -> dict[str, Any]:
    """An operation's ``input`` as the REST route's fields (``runIds`` → ``run_ids``)."""
    return {_snake(key): value for key, value in (input or {}).items() if value is not None}


def _snake(name: str) -> str:
    return _CAMEL_HUMP.sub("_", name).lower()


def _root(method: str, path: str, handler: Handler) -> Callable[..., dict[str, Any]]:
    def resolve(
        source: Any, info: GraphQLResolveInfo, input: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        return _call(info, method, path, handler, _request_fields(input))

    return resolve


def _echo(source: Any, info: GraphQLResolveInfo, inputString: str | None = None) -> dict[str, Any]:
    return {"output": inputString}


def _run_experiment(run: dict[str, Any], info: GraphQLResolveInfo) -> dict[str, Any]:
    context: Context = info.context
    experiment_id = run.get("info", {}).get("experiment_id", "")
    if experiment_id not in context.experiments:
        found = _call(
            info, "GET", "experiments/get", tracking.get_experiment,
            {"experiment_id": experiment_id},
        )  # fmt: skip
        context.experiments[experiment_id] = found.get("experiment", {})
    return context.experiments[experiment_id]


def _run_model_versions(run: dict[str, Any], info: GraphQLResolveInfo) -> list[dict[str, Any]]:
    run_id = run.get("info", {}).get("run_id", "")
    found = _call(
        info, "GET", "model-versions/search", registry.search_model_versions,
        {"filter": f"run_id = '{run_id}'"},
    )  # fmt: skip
    versions: list[dict[str, Any]] = found.get("model_versions", [])
    return versions


# ---------------------------------------------------------------------- fields


def _read_field(source: Any, info: GraphQLResolveInfo, **args: Any) -> Any:
    """A field of MLflow's JSON answer (``runUuid`` reads ``run_uuid``); left out: protobuf's
    default for its type. A metric's NaN or infinity is null (GraphQL's Float has neither)."""
    value = source.get(_snake(info.field_name)) if isinstance(source, dict) else None
    if value is None:
        return _default(info.return_type)
    if isinstance(value, str) and _named(info.return_type) == "Float":
        return None  # "NaN", "Infinity", "-Infinity" in MLflow's JSON
    return value


def _named(kind: Any) -> str:
    while isinstance(kind, GraphQLNonNull):
        kind = kind.of_type
    return str(getattr(kind, "name", ""))


_SCALAR_DEFAULTS: dict[str, Any] = {
    "String": "",
    "Boolean": False,
    "Float": 0.0,
    "Int": 0,
    "LongString": 0,
}


def _default(kind: Any) -> Any:
    while isinstance(kind, GraphQLNonNull):
        kind = kind.of_type
    if isinstance(kind, GraphQLList):
        return []
    if isinstance(kind, GraphQLObjectType):
        return None if kind.name == "ApiError" else {}  # MLflow reports errors in `errors`
    if isinstance(kind, GraphQLEnumType):
        return None
    return _SCALAR_DEFAULTS.get(kind.name)


def _long_string(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise TypeError(f"LongString cannot represent {value!r}")
    return str(int(value))


def _parse_long(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError(f"LongString cannot represent {value!r}")
    return int(value)


def _parse_long_literal(node: ValueNode, variables: Any = None) -> int:
    if isinstance(node, (IntValueNode, StringValueNode)):
        return int(node.value)
    raise ValueError("LongString is an integer or a string of one.")


def _build() -> GraphQLSchema:
    built = build_schema(SDL)
    long_string = built.type_map["LongString"]
    assert isinstance(long_string, GraphQLScalarType)
    long_string.serialize = _long_string  # type: ignore[method-assign]
    long_string.parse_value = _parse_long  # type: ignore[method-assign]
    long_string.parse_literal = _parse_long_literal  # type: ignore[method-assign]
    resolvers: dict[str, dict[str, Callable[..., Any]]] = {
        "Query": {
            "mlflowGetExperiment": _root("GET", "experiments/get", tracking.get_experiment),
            "mlflowGetRun": _root("GET", "runs/get", tracking.get_run),
            "mlflowSearchRuns": _root("POST", "runs/search", tracking.search_runs),
            "mlflowListArtifacts": _root("GET", "artifacts/list", tracking.list_artifacts),
            "mlflowGetMetricHistoryBulkInterval": _root(
                "GET",
                "metrics/get-history-bulk-interval",
                tracking.get_metric_history_bulk_interval,
            ),
            "mlflowSearchModelVersions": _root(
                "GET", "model-versions/search", registry.search_model_versions
            ),
            "test": _echo,
        },
        "Mutation": {
            "mlflowSearchRuns": _root("POST", "runs/search", tracking.search_runs),
            "mlflowSearchDatasets": _root(
                "POST", "experiments/search-datasets", tracking.search_datasets
            ),
            "testMutation": _echo,
        },
        "MlflowRunExtension": {
            "experiment": _run_experiment,
            "modelVersions": _run_model_versions,
        },
    }
    for type_name, fields in resolvers.items():
        owner = built.type_map[type_name]
        assert isinstance(owner, GraphQLObjectType)
        for name, resolve in fields.items():
            owner.fields[name].resolve = resolve
    return built


schema = _build()
