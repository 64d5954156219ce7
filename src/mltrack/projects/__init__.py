"""MLflow Projects over git: ``mltrack run`` and ``mltrack.projects.run``.

A project is a directory (or a git repository) with an ``MLproject`` file that
names its entry points, their typed parameters and its Python environment.
Running one records a run whose tags, params and code section say exactly what
ran — the commit, whether the tree was dirty (with the diff as an artifact), the
parameters and the environment — so that ``mltrack runs rerun RUN_ID`` can run
it again.

Modules: :mod:`~mltrack.projects.spec` (the MLproject and python_env.yaml
files), :mod:`~mltrack.projects.source` (where the code comes from),
:mod:`~mltrack.projects.environments` (local or cached virtualenv) and
:mod:`~mltrack.projects.runner` (the run itself).
"""

from mltrack.projects.runner import SubmittedRun, rerun, run
from mltrack.projects.spec import Project, load_project

__all__ = ["Project", "SubmittedRun", "load_project", "rerun", "run"]
