"""The serving manifests (infra/serve, infra/kuberay) agree with the code they run; no cluster needed.

The Serve config is one that Ray Serve's own schema accepts, names the application builder and its
deployments, and is the one the KubeRay RayService embeds; the gRPC Service reaches exactly the pods
that host the ingress; the Ray pods share the Spark jobs' namespace, image, data volume and
environment; and no GPU is requested by default.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

import yaml

from content_signals.config import load_config
from tests.infra import ROOT, Doc, cron_pod, one, path_in_image

SERVE_CONFIG = ROOT / "infra" / "serve" / "serve_config.yaml"
RAYSERVICE = ROOT / "infra" / "kuberay" / "rayservice.yaml"
INGRESS, MODEL = "SignalsIngress", "Model_engagement"
INGRESS_RESOURCE = "signals_ingress"


def serve_config() -> Doc:
    loaded: Doc = yaml.safe_load(SERVE_CONFIG.read_text())
    return loaded


def serve_app() -> Doc:
    [app] = serve_config()["applications"]
    return app


def serve_deployment(name: str) -> Doc:
    [deployment] = [d for d in serve_app()["deployments"] if d["name"] == name]
    return deployment


@functools.cache
def kuberay_documents() -> tuple[Doc, ...]:
    return tuple(doc for doc in yaml.safe_load_all(RAYSERVICE.read_text()) if doc is not None)


def kuberay_one(kind: str) -> Doc:
    matches = [doc for doc in kuberay_documents() if doc["kind"] == kind]
    assert len(matches) == 1, f"expected one {kind} in {RAYSERVICE.name}, found {len(matches)}"
    return matches[0]


def ray_groups() -> dict[str, Doc]:
    """Group name -> group spec ("head" for the head group) of the RayService's cluster."""
    cluster = kuberay_one("RayService")["spec"]["rayClusterConfig"]
    return {"head": cluster["headGroupSpec"], **{g["groupName"]: g for g in cluster["workerGroupSpecs"]}}


def ray_container(group: Doc) -> Doc:
    # KubeRay runs Ray in the pod's first container.
    container: Doc = group["template"]["spec"]["containers"][0]
    return container


def production_config(environ: dict[str, str] | None = None) -> Any:
    return load_config(ROOT / serve_app()["args"]["config"], environ=environ or {})


def unknown_keys(data: Doc, model: Any, where: str) -> list[str]:
    """Keys of ``data`` that the pydantic ``model`` has no field (or alias) for."""
    known = set(model.model_fields) | {f.alias for f in model.model_fields.values() if f.alias}
    return [f"{where}.{key}" for key in data if key not in known]


def test_serve_config_is_one_serve_deploy_accepts() -> None:
    from ray.serve.config import AutoscalingConfig
    from ray.serve.schema import (
        DeploymentSchema,
        HTTPOptionsSchema,
        LoggingConfig,
        RayActorOptionsSchema,
        ServeApplicationSchema,
        ServeDeploySchema,
    )

    config = serve_config()
    ServeDeploySchema.model_validate(config)
    # ServeDeploySchema ignores keys it does not know (forward compatibility), so a misspelt
    # option would be dropped silently: every key must be a field of the schema.
    unknown = unknown_keys(config, ServeDeploySchema, "config")
    unknown += unknown_keys(config["http_options"], HTTPOptionsSchema, "http_options")
    unknown += unknown_keys(config["logging_config"], LoggingConfig, "logging_config")
    for app in config["applications"]:
        unknown += unknown_keys(app, ServeApplicationSchema, app["name"])
        for deployment in app["deployments"]:
            where = f"{app['name']}.{deployment['name']}"
            unknown += unknown_keys(deployment, DeploymentSchema, where)
            unknown += unknown_keys(deployment.get("ray_actor_options", {}), RayActorOptionsSchema, where)
            unknown += unknown_keys(deployment.get("autoscaling_config", {}), AutoscalingConfig, where)
    assert unknown == []
    # Serve's gRPC proxy stays off (no TLS, no auth): the frontend in SignalsIngress serves gRPC.
    assert "grpc_options" not in config
    # Serve's HTTP proxy only answers KubeRay's readiness probe, on the loopback; one per node
    # with replicas (HeadOnly would leave KubeRay's RayService workers NotReady).
    assert config["http_options"] == {"host": "127.0.0.1", "port": 8000}
    assert config["proxy_location"] == "EveryNode"
    assert config["logging_config"]["encoding"] == "JSON"
    assert config["logging_config"]["enable_access_log"] is False


def test_serve_config_deploys_the_application_builder_and_its_deployments() -> None:
    app = serve_app()
    assert app["name"] == "content_signals"
    assert app["import_path"] == "content_signals.serving.app:app_builder"
    module, _, attribute = app["import_path"].partition(":")
    assert (ROOT / (module.replace(".", "/") + ".py")).is_file()  # not imported: Ray-heavy
    assert attribute.isidentifier()
    assert app["args"] == {"config": "config/production.yaml"}
    production_config()  # the platform config loads, every address from its defaults
    assert app["route_prefix"] is None  # no HTTP route
    assert [d["name"] for d in app["deployments"]] == [INGRESS, MODEL]

    ingress, model = serve_deployment(INGRESS), serve_deployment(MODEL)
    assert ingress["num_replicas"] == 1 and "autoscaling_config" not in ingress
    assert ingress["ray_actor_options"] == {"num_cpus": 0.5, "resources": {INGRESS_RESOURCE: 1}}
    for deployment in (ingress, model):
        assert deployment["graceful_shutdown_wait_loop_s"] < deployment["graceful_shutdown_timeout_s"]
    # Autoscaled on ongoing requests: a replica scales out before it is full, with at least one
    # whole batch per replica, and sheds load (RESOURCE_EXHAUSTED) past a bounded queue.
    autoscaling = model["autoscaling_config"]
    assert "num_replicas" not in model
    assert 1 <= autoscaling["min_replicas"] <= autoscaling["max_replicas"]
    max_batch_size = production_config().serving.max_batch_size
    assert max_batch_size <= autoscaling["target_ongoing_requests"] < model["max_ongoing_requests"]
    assert model["max_queued_requests"] > 0
    # Serve replaces the code's ray_actor_options as a whole when the config sets any; the model
    # deployments' (num_gpus from serving.model_num_gpus, with the CPU fallback) must stay.
    assert "ray_actor_options" not in model


def test_rayservice_embeds_the_serve_config() -> None:
    service = kuberay_one("RayService")
    assert service["apiVersion"] == "ray.io/v1"
    assert yaml.safe_load(service["spec"]["serveConfigV2"]) == serve_config()
    assert service["spec"]["serviceUnhealthySecondThreshold"] > 0
    assert service["spec"]["deploymentUnhealthySecondThreshold"] > 0


def test_serving_manifests_share_the_spark_namespace_image_layout_and_ray_version() -> None:
    namespace = one("ServiceAccount")["metadata"]["namespace"]
    assert sorted(doc["kind"] for doc in kuberay_documents()) == ["ConfigMap", "RayService", "Service"]
    for doc in kuberay_documents():
        assert doc["metadata"]["namespace"] == namespace, doc["kind"]
    pinned = re.search(r'"ray\[serve\]==([^"]+)"', (ROOT / "pyproject.toml").read_text())
    assert pinned is not None
    assert kuberay_one("RayService")["spec"]["rayClusterConfig"]["rayVersion"] == pinned.group(1)
    # One image everywhere, and `ray start` in the project root as the Dockerfile lays it out, so
    # that the application's relative config path resolves.
    project_root = path_in_image("pyproject.toml")
    assert project_root is not None
    containers = [ray_container(group) for group in ray_groups().values()]
    assert len({c["image"] for c in containers}) == 1
    for container in containers:
        assert container["workingDir"] == str(project_root.parent), container["name"]


def test_ray_resources_leave_the_head_free_and_request_no_gpu_by_default() -> None:
    groups = ray_groups()
    head = groups["head"]["rayStartParams"]
    assert head["num-cpus"] == "0" and head["dashboard-host"] == "0.0.0.0"
    for name, group in groups.items():
        resources = ray_container(group)["resources"]
        assert resources["requests"]["memory"] == resources["limits"]["memory"], name
        gpus = int(resources.get("limits", {}).get("nvidia.com/gpu", 0))
        if gpus:  # optional: no GPU pod unless asked for
            assert group["replicas"] == group["minReplicas"] == 0, name
        else:
            assert "nvidia.com/gpu" not in resources.get("requests", {}), name
    assert any(int(ray_container(g)["resources"]["limits"].get("nvidia.com/gpu", 0)) for g in groups.values())
    # Nothing in the serve config or the platform config asks for a GPU either.
    for deployment in serve_app()["deployments"]:
        assert deployment.get("ray_actor_options", {}).get("num_gpus", 0) == 0, deployment["name"]
    assert production_config().serving.model_num_gpus == 0
    # Replicas drain (graceful_shutdown_timeout_s) before Kubernetes kills their pod.
    drain = max(d.get("graceful_shutdown_timeout_s", 0) for d in serve_app()["deployments"])
    for name, group in groups.items():
        assert group["template"]["spec"]["terminationGracePeriodSeconds"] > drain, name


def test_the_grpc_service_reaches_exactly_the_pods_that_host_the_ingress() -> None:
    groups = ray_groups()
    ingress = serve_deployment(INGRESS)
    # The ingress replicas can only run on the ingress group's pods, one per pod, a pod each.
    offering = {
        name: json.loads(json.loads(group["rayStartParams"]["resources"]))
        for name, group in groups.items()
        if "resources" in group["rayStartParams"]
    }
    assert list(offering) == ["ingress"] and offering["ingress"] == {INGRESS_RESOURCE: 1}
    group = groups["ingress"]
    assert group["replicas"] == group["minReplicas"] == group["maxReplicas"] == ingress["num_replicas"]
    cpus = float(ray_container(group)["resources"]["limits"]["cpu"])
    assert ingress["ray_actor_options"]["num_cpus"] <= cpus

    service = kuberay_one("Service")
    [port] = service["spec"]["ports"]
    grpc_port = production_config().serving.grpc_port
    assert port["port"] == grpc_port
    for name, group in groups.items():
        labels = group["template"]["metadata"]["labels"]
        selected = all(labels.get(k) == v for k, v in service["spec"]["selector"].items())
        ports = {p["name"]: p["containerPort"] for p in ray_container(group).get("ports", [])}
        assert selected == (name == "ingress"), name
        if selected:
            assert ports[port["targetPort"]] == grpc_port
            assert ray_container(group)["readinessProbe"]["tcpSocket"]["port"] == port["targetPort"]
        else:
            assert grpc_port not in ports.values(), name


def test_ray_pods_get_the_platform_environment_and_the_shared_data() -> None:
    config_map, claim = kuberay_one("ConfigMap"), one("PersistentVolumeClaim")
    secret_name = "content-signals-serving-secrets"  # created by hand (it holds a password)
    environments = []
    for name, group in ray_groups().items():
        container, pod = ray_container(group), group["template"]["spec"]
        env = {e["name"]: e["valueFrom"] for e in container["env"]}
        assert set(env) >= {"REDIS_ADDRESS", "FEAST_REGISTRY_URL", "SIGNALS_DATA_DIR"}, name
        assert env["FEAST_REGISTRY_URL"]["secretKeyRef"]["name"] == secret_name, name
        values = {"FEAST_REGISTRY_URL": "postgresql+psycopg2://user:secret@postgres:5432/feast"}
        for variable, source in env.items():
            if "configMapKeyRef" in source:
                assert source["configMapKeyRef"]["name"] == config_map["metadata"]["name"], name
                values[variable] = config_map["data"][source["configMapKeyRef"]["key"]]
        environments.append(values)
        # The data directory lies on the Spark jobs' shared volume, mounted in every Ray pod.
        volumes = {v["name"]: v for v in pod["volumes"]}
        mounts = {
            volumes[m["name"]]["persistentVolumeClaim"]["claimName"]: m["mountPath"]
            for m in container["volumeMounts"]
            if "persistentVolumeClaim" in volumes[m["name"]]
        }
        config = production_config(values)
        assert config.data_dir.is_relative_to(Path(mounts[claim["metadata"]["name"]]).resolve()), name
        assert config.feast.registry.url == values["FEAST_REGISTRY_URL"], name
    assert all(values == environments[0] for values in environments)
    # The same data directory as the daily Spark run writes.
    [cron] = cron_pod()["containers"]
    cron_env = {e["name"]: e["value"] for e in cron["env"] if "value" in e}
    assert environments[0]["SIGNALS_DATA_DIR"] == cron_env["SIGNALS_DATA_DIR"]
