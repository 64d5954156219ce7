"""The search grammar: ``filter_string`` and ``order_by`` for runs, experiments and the registry.

MLflow's grammar, read by our own tokenizer and recursive-descent parser and compiled
once into closures, so ``Filter.matches`` costs a few dict lookups per record::

    filter      := [or_expr]
    or_expr     := and_expr (OR and_expr)*              OR: mltrack extension
    and_expr    := primary (AND primary)*
    primary     := "(" or_expr ")" | comparison          parentheses: mltrack extension
    comparison  := identifier comparator [value]
    identifier  := [entity "."] key                      no prefix: an attribute
    comparator  := = | != | < | <= | > | >= | LIKE | ILIKE | IN | NOT IN | IS NULL | IS NOT NULL
    value       := number | 'string' | "string" | "(" string ("," string)* [","] ")"
    order_by    := identifier [ASC | DESC]               one clause per list item

Keywords are case-insensitive; entity prefixes and keys are not. A key is a run of word
characters and dots (``tags.mlflow.runName``) or is quoted with backticks, double or single
quotes (``metrics.`val-loss/x:1```). Inside a quoted string or key the quote character is
written twice (``'it''s'``); a backslash is an ordinary character. Numbers are ``-?`` then
``1``, ``1.5``, ``1.``, ``.5``, ``1e5``, ``1.5E-3``.

**Extension.** MLflow accepts only ``AND``; mltrack also accepts ``OR`` and parentheses, with
AND binding tighter than OR: ``a AND b OR c`` is ``(a AND b) OR c``.

**Semantics**, as MLflow's file and SQL stores:

- Each entity has its own keys and comparators (see ``_entities.py``); metrics compare numbers
  (the latest value), params and tags compare strings, ``LIKE``/``ILIKE`` are SQL patterns
  (``%`` any run, newlines included, ``_`` one character; LIKE case-sensitive, ILIKE not;
  no escape character).
- A comparison on a missing key or a ``None`` attribute is false, ``!=`` included; find runs
  without a param or tag with ``IS NULL``. A NaN metric satisfies only ``!=``.
- ``datasets.name|digest|context`` match when any of the run's datasets matches.
- Registered models and model versions without the ``mlflow.prompt.is_prompt`` tag satisfy
  ``tags.`mlflow.prompt.is_prompt` != 'true'`` and ``= 'false'`` (the MLflow client adds it).
- Sorting puts NaN and then None after all values in both directions, then applies the
  entity's tie-break (runs: ``start_time DESC, run_id``; experiments: ``experiment_id``;
  registered models: ``name``; model versions: ``name, version_number DESC``). With
  no order_by, experiments sort by ``creation_time DESC`` and model versions by
  ``last_updated_timestamp DESC`` first.

**Deliberate differences from MLflow** (mostly artifacts of its sqlparse-based lexer;
``tests/mlflow_crosscheck_search.py`` runs every one of them through MLflow):

- Rejected here, accepted by MLflow: a dangling or doubled ``AND`` (``AND a = 1``); two
  comparisons with no ``AND`` between them; a list after ``=`` (``run_id = ('a')``); strings
  juxtaposed in a list (``('a' 'b')``, which MLflow concatenates); ``metrics. a`` (space after
  the dot); quote marks inside an unquoted key (``metrics."a".b``); a backslash before a
  closing quote (``'it\\'s'``; double the quote instead).
- Accepted here, rejected by MLflow: unquoted keys that sqlparse splits, such as
  ``metrics.in``, ``metrics.from``, ``metrics.a.1``; a quoted attribute key in registry
  filters (``name`` in backticks), a backticked prefix outside runs (``tags`` in backticks)
  and the ``attribute.`` prefix in registry order_by; whitespace-only filters (they match everything)
  and whitespace around an order_by clause; ``IS NOT  NULL`` with several spaces; a lone
  string as ``order_by`` (one clause).
- Values: ``''`` inside a string means one quote (MLflow keeps both, so ``'it''s'`` could
  never match "it's"); lists follow the same rules as single values (MLflow reads them
  with Python's ``ast.literal_eval``).
- Experiment ids are compared as strings and need not be integers (MLflow's SQL store
  requires integers); ``experiment_id`` sorts numerically when it is all digits.
"""

from mltrack.search._evaluate import Filter, parse_filter, parse_order_by, sort_records
from mltrack.search._nodes import (
    ATTRIBUTE,
    DATASET,
    ENTITY_EXPERIMENTS,
    ENTITY_LOGGED_MODELS,
    ENTITY_MODEL_VERSIONS,
    ENTITY_REGISTERED_MODELS,
    ENTITY_RUNS,
    METRIC,
    PARAM,
    TAG,
    And,
    Comparison,
    ExperimentRecord,
    Expr,
    LoggedModelRecord,
    ModelVersionRecord,
    Or,
    OrderKey,
    RegisteredModelRecord,
    RunRecord,
)

__all__ = [
    "ATTRIBUTE",
    "DATASET",
    "ENTITY_EXPERIMENTS",
    "ENTITY_LOGGED_MODELS",
    "ENTITY_MODEL_VERSIONS",
    "ENTITY_REGISTERED_MODELS",
    "ENTITY_RUNS",
    "METRIC",
    "PARAM",
    "TAG",
    "And",
    "Comparison",
    "ExperimentRecord",
    "Expr",
    "Filter",
    "LoggedModelRecord",
    "ModelVersionRecord",
    "Or",
    "OrderKey",
    "RegisteredModelRecord",
    "RunRecord",
    "parse_filter",
    "parse_order_by",
    "sort_records",
]
