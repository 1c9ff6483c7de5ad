"""Objects that must point at each other: Services, the ServiceMonitor and PDBs select the
right pods and name real ports; probes call the right paths on the container port."""

from __future__ import annotations

from collections import Counter

import pytest

from tests.deploy.k8s import (
    clawbus_deployments,
    effective_env,
    pod_labels,
    selector_matches,
    setting,
    workloads,
)
from tests.deploy.tools import OVERLAYS, SERVICES, of_kind, rendered


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_service_is_deployed(overlay: str) -> None:
    deployments = clawbus_deployments(rendered(overlay))
    assert set(deployments) == set(SERVICES)
    for name, deployment in deployments.items():
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        assert container["command"] == ["python", "-m", name]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_services_select_one_deployment_and_name_its_port(overlay: str) -> None:
    docs = rendered(overlay)
    for service in of_kind(docs, "Service"):
        owners = [
            w
            for w in workloads(docs)
            if selector_matches({"matchLabels": service["spec"]["selector"]}, pod_labels(w))
        ]
        assert len(owners) == 1, f"Service {service['metadata']['name']} selects {len(owners)}"
        (container,) = owners[0]["spec"]["template"]["spec"]["containers"]
        port_names = {p["name"] for p in container["ports"]}
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in port_names


@pytest.mark.parametrize("overlay", [o for o in OVERLAYS if o.startswith("prod")])
def test_servicemonitor_scrapes_the_five_services(overlay: str) -> None:
    docs = rendered(overlay)
    (monitor,) = of_kind(docs, "ServiceMonitor")
    selected = [
        s
        for s in of_kind(docs, "Service")
        if s["metadata"]["namespace"] == monitor["metadata"]["namespace"]
        and selector_matches(monitor["spec"]["selector"], s["metadata"]["labels"])
    ]
    assert sorted(s["metadata"]["name"] for s in selected) == sorted(
        f"clawbus-{name}" for name in SERVICES
    ), "the alert rules expect job=clawbus-<service>, the Service name"
    for endpoint in monitor["spec"]["endpoints"]:
        assert endpoint["path"] == "/metrics"
        for service in selected:
            names = {p["name"] for p in service["spec"]["ports"]}
            assert endpoint["port"] in names, (
                f"{service['metadata']['name']} lacks {endpoint['port']}"
            )


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_workload_has_a_pdb_selecting_it(overlay: str) -> None:
    docs = rendered(overlay)
    deployments = of_kind(docs, "Deployment")
    covered: Counter[str] = Counter()
    for pdb in of_kind(docs, "PodDisruptionBudget"):
        matched = [
            d for d in deployments if selector_matches(pdb["spec"]["selector"], pod_labels(d))
        ]
        assert len(matched) == 1, (
            f"PDB {pdb['metadata']['name']} selects {len(matched)} Deployments"
        )
        assert pdb["spec"]["selector"] == matched[0]["spec"]["selector"]
        assert "maxUnavailable" in pdb["spec"], "minAvailable would block draining one replica"
        covered[matched[0]["metadata"]["name"]] += 1
    assert all(covered[d["metadata"]["name"]] == 1 for d in deployments)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_probes_and_ports(overlay: str) -> None:
    docs = rendered(overlay)
    for name, deployment in clawbus_deployments(docs).items():
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        (port,) = container["ports"]
        assert port["containerPort"] == SERVICES[name]
        assert effective_env(docs, container)["CLAWBUS_HTTP_PORT"] == str(SERVICES[name])
        assert setting(docs, container, "http_host") == "0.0.0.0"
        expected = {
            "readinessProbe": "/readyz",
            "livenessProbe": "/healthz",
            "startupProbe": "/healthz",
        }
        for probe, path in expected.items():
            http = container[probe]["httpGet"]
            assert http["path"] == path, f"{name} {probe}"
            assert http["port"] in (port["name"], port["containerPort"]), f"{name} {probe} port"
