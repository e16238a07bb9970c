"""Batch experiments: arms x design points x replications, resumable, with provenance.

>>> from channel_agents.experiments import load_spec, build_plan
>>> plan = build_plan(load_spec("experiments/siloed_vs_cooperative.yaml"))
>>> plan.arms
['siloed', 'cooperative']

``run_experiment(spec, out=..., executor=..., workers=...)`` runs what the store
lacks and writes summary.csv, report.md, plot.png and provenance.json; the
command line is ``channel-agents experiment SPEC`` (command.py). The spec
format is in docs/experiments.md.
"""

from channel_agents.experiments.runner import Plan, build_plan, load_runs, run_experiment
from channel_agents.experiments.spec import ExperimentSpec, load_spec

__all__ = ["ExperimentSpec", "Plan", "build_plan", "load_runs", "load_spec", "run_experiment"]
