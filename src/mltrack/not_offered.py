"""The names MLflow has at top level that ``mltrack`` does not offer, and why.

``mltrack.<name>`` for one of them raises :class:`~mltrack.exceptions.NotOffered`
(an ``AttributeError`` too, so ``hasattr`` stays False) with the reason, in one
line. Imported only when such a name is asked for, so ``import mltrack`` stays
fast. docs/mlflow-compatibility.md lists the same names (a test checks both
against ``dir(mlflow)`` of the pinned MLflow).
"""

from __future__ import annotations

from mltrack.exceptions import NotOffered

__all__ = ["NOT_OFFERED", "not_offered"]

_TRACING = "mltrack records training runs and models in git, not GenAI traces, spans or sessions"
_ASSESSMENTS = "GenAI trace assessments (feedback, expectations, issues) are out of mltrack's scope"
_PROMPTS = "the GenAI prompt registry is out of scope; keep prompts as files in the repository"
_GENAI = "GenAI evaluation, agents, deployments and the AI gateway are out of mltrack's scope"
_WORKSPACES = "MLflow server workspaces have no equivalent: the git repository is the workspace"
_GENAI_FLAVOR = "GenAI library integrations (flavors, autologging) are out of mltrack's scope"
_FLAVOR = (
    "mltrack has no such model flavor; save the model with mltrack.pyfunc "
    "(a PythonModel that loads it) or log its files with mltrack.log_artifacts"
)
_INTERNAL = "it is an MLflow implementation detail, not part of the tracking API"
_DATABRICKS = (
    "Databricks and cloud services have no equivalent: mltrack works on a local git repository"
)
_TELEMETRY = "mltrack sends no telemetry"
_LATER = "not yet (issue 14)"
_ASSISTANTS = "MLflow's AI assistant, coding-agent and MCP integrations are out of mltrack's scope"
_CLI = "it holds MLflow's CLI commands; use the `mltrack` command"


def _each(reason: str, *names: str) -> dict[str, str]:
    return dict.fromkeys(names, reason)


NOT_OFFERED: dict[str, str] = {
    **_each(
        _TRACING,
        "IS_TRACING_SDK_ONLY",
        "add_trace",
        "context",
        "delete_trace_tag",
        "flush_trace_async_logging",
        "get_active_trace_id",
        "get_current_active_span",
        "get_last_active_trace_id",
        "get_trace",
        "log_trace",
        "maybe_hint_tracing_skill",
        "otel",
        "search_sessions",
        "search_traces",
        "set_trace_tag",
        "start_span",
        "start_span_no_context",
        "trace",
        "tracing",
        "update_current_trace",
    ),
    **_each(
        _ASSESSMENTS,
        "delete_assessment",
        "get_assessment",
        "log_assessment",
        "log_expectation",
        "log_feedback",
        "log_issue",
        "override_feedback",
        "update_assessment",
    ),
    **_each(
        _PROMPTS,
        "delete_prompt_alias",
        "load_prompt",
        "prompt",
        "register_prompt",
        "search_prompts",
        "set_prompt_alias",
    ),
    **_each(_GENAI, "agent", "deployments", "gateway", "genai"),
    **_each(
        _WORKSPACES,
        "create_workspace",
        "delete_workspace",
        "get_workspace",
        "list_workspaces",
        "set_workspace",
        "update_workspace",
    ),
    **_each(
        _GENAI_FLAVOR,
        "ag2",
        "agno",
        "anthropic",
        "autogen",
        "bedrock",
        "crewai",
        "dspy",
        "gemini",
        "groq",
        "haystack",
        "langchain",
        "litellm",
        "llama_index",
        "mistral",
        "openai",
        "pydantic_ai",
        "semantic_kernel",
        "smolagents",
        "strands",
        "txtai",
    ),
    **_each(
        _FLAVOR,
        "catboost",
        "diffusers",
        "h2o",
        "johnsnowlabs",
        "onnx",
        "paddle",
        "pmdarima",
        "prophet",
        "pyspark",
        "rfunc",
        "sentence_transformers",
        "shap",
        "spacy",
        "spark",
        "statsmodels",
        "tensorflow",
        "transformers",
    ),
    **_each(
        _INTERNAL,
        "LazyLoader",
        "MLFLOW_CONFIGURE_LOGGING",
        "TYPE_CHECKING",
        "config",
        "contextlib",
        "environment_variables",
        "error_classification",
        "mismatch",
        "ml_package_versions",
        "mlflow",
        "protos",
        "pytest",
        "test",
        "typesafe",
        "utils",
        "version",
    ),
    **_each(_DATABRICKS, "azure", "legacy_databricks_cli", "login", "sagemaker"),
    **_each(_ASSISTANTS, "ai_commands", "assistant", "claude_code", "demo", "mcp"),
    **_each(_CLI, "db", "experiments", "runs"),
    "optuna": "MLflow's Optuna storage is not offered: log each trial as a (nested) run",
    "webhooks": "registry webhooks are not offered: react to the registry's git tags in CI",
    # MLflow's top-level `evaluation` holds GenAI assessments; model evaluation is `evaluate`.
    "evaluation": f"{_GENAI} (to evaluate a classifier or regressor, use mltrack.evaluate)",
    **_each(_TELEMETRY, "set_telemetry_client", "telemetry"),
    "doctor": "mltrack has no environment report; `mltrack --version` gives its version",
    # Not there yet; each says what to use meanwhile.
    "Image": f"{_LATER}: log images with mltrack.log_image",
    "validate_evaluation_results": f"{_LATER}: compare the logged metrics yourself",
    "import_checkpoints": f"{_LATER}: log each checkpoint as a model",
}


def not_offered(name: str) -> NotOffered | None:
    """The error for ``mltrack.<name>`` if MLflow has it and mltrack does not offer it."""
    reason = NOT_OFFERED.get(name)
    if reason is None:
        return None
    return NotOffered(f"mltrack.{name} is not offered: {reason}.")
