"""Write prometheusrule.yaml from deploy/prometheus/rules/clawbus.rules.yml.

The plain rules file is the source of truth (docker-compose loads it, promtool tests it);
the PrometheusRule's spec is the same document. Run after editing the rules:

    uv run python deploy/components/monitoring/render_prometheusrule.py
"""

from __future__ import annotations

from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
RULES = HERE.parents[1] / "prometheus" / "rules" / "clawbus.rules.yml"
OUT = HERE / "prometheusrule.yaml"

HEADER = """\
# Generated from deploy/prometheus/rules/clawbus.rules.yml by render_prometheusrule.py.
# Do not edit by hand: edit the rules file, re-run the script; tests/deploy checks they match.
"""


def render() -> str:
    spec = yaml.safe_load(RULES.read_text())
    doc = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {
            "name": "clawbus",
            "labels": {
                "app.kubernetes.io/name": "clawbus",
                "app.kubernetes.io/part-of": "clawbus",
                # kube-prometheus-stack only loads rules carrying its release label.
                "release": "kube-prometheus-stack",
            },
        },
        "spec": spec,
    }
    return HEADER + yaml.safe_dump(doc, sort_keys=False, width=100, allow_unicode=True)


if __name__ == "__main__":
    OUT.write_text(render())
    print(f"wrote {OUT}")
