"""The experiments: one command per report, run from the repository root as
``python -m experiments.NAME`` (a package, so that scripts, their shared ``lib`` and the tests
import each other by name). ``experiments/README.md`` lists them."""
