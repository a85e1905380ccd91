"""The Spark-on-Kubernetes manifests in infra/spark agree with the code they run; no cluster needed.

Nothing here can start a pod, so this checks what would otherwise only fail on a cluster: the
application file is where the Dockerfile puts jobs/submit.py, every argument is one its parser
accepts, the ConfigMap's config loads with content_signals.config and puts the data directory on
the shared volume, the Role grants what a Spark driver does, and the operator's SparkApplication,
the daily CronJob and the spark-submit command in infra/README.md describe the same run.

The serving manifests (infra/serve, infra/kuberay) likewise: the Serve config is one that Ray
Serve's own schema accepts, names the application builder and its deployments, and is the one the
KubeRay RayService embeds; the gRPC Service reaches exactly the pods that host the ingress; and no
GPU is requested by default.
"""

from __future__ import annotations

import functools
import json
import re
import shlex
import subprocess
import sys
import tomllib
from datetime import UTC, date, datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml
from packaging.specifiers import SpecifierSet

from content_signals.config import load_config
from content_signals.errors import SignalsError

ROOT = Path(__file__).resolve().parents[1]
SPARK_DIR = ROOT / "infra" / "spark"
SUBMIT = ROOT / "jobs" / "submit.py"

API_VERSIONS = {
    "ServiceAccount": "v1",
    "Role": "rbac.authorization.k8s.io/v1",
    "RoleBinding": "rbac.authorization.k8s.io/v1",
    "PersistentVolumeClaim": "v1",
    "ConfigMap": "v1",
    "SparkApplication": "sparkoperator.k8s.io/v1beta2",
    "CronJob": "batch/v1",
    "Pod": "v1",  # the driver pod template, a file for spark-submit rather than an object
}
# What a Spark driver does through the API: create, watch and delete executor pods (deleting by
# label is a collection delete), the same for the executors' Spark-config ConfigMap, and delete
# its own Service when it ends.
DRIVER_NEEDS = {
    "pods": {"create", "get", "list", "watch", "delete", "deletecollection"},
    "configmaps": {"create", "get", "list", "delete", "deletecollection"},
    "services": {"delete"},
}
# spark-submit options that are shorthands for a Spark setting.
SUBMIT_FLAGS = {
    "--master": "spark.master",
    "--name": "spark.app.name",
    "--deploy-mode": "spark.submit.deployMode",
    "--driver-memory": "spark.driver.memory",
    "--executor-memory": "spark.executor.memory",
}
DAILY_DATE = "$(date -u -d yesterday +%F)"


Doc = dict[str, Any]


@functools.cache
def documents() -> tuple[tuple[Path, Doc], ...]:
    found = []
    for path in sorted([*SPARK_DIR.rglob("*.yaml"), *SPARK_DIR.rglob("*.yml")]):
        found += [(path, doc) for doc in yaml.safe_load_all(path.read_text()) if doc is not None]
    return tuple(found)


def one(kind: str) -> Doc:
    matches = [doc for _, doc in documents() if doc["kind"] == kind]
    assert len(matches) == 1, f"expected one {kind} under infra/spark, found {len(matches)}"
    return matches[0]


def pod_template() -> tuple[Path, Doc]:
    [(path, doc)] = [(p, d) for p, d in documents() if d["kind"] == "Pod"]
    return path, doc


def cron_pod() -> Doc:
    return one("CronJob")["spec"]["jobTemplate"]["spec"]["template"]["spec"]


def memory_bytes(quantity: str) -> int:
    """A Spark size ("2g") or a Kubernetes quantity ("3Gi") in bytes."""
    match = re.fullmatch(r"(\d+)([a-zA-Z]*)", quantity)
    assert match is not None, quantity
    factor = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "ki": 2**10, "mi": 2**20, "gi": 2**30}
    return int(match.group(1)) * factor[match.group(2).lower()]


# --- the image ------------------------------------------------------------------------------


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined."""
    text = re.sub(r"\\\n", " ", (SPARK_DIR / "Dockerfile").read_text())
    lines = (line.strip() for line in text.splitlines())
    pairs = [line.partition(" ") for line in lines if line and not line.startswith("#")]
    return [(keyword.upper(), rest.strip()) for keyword, _, rest in pairs]


def path_in_image(repo_path: str) -> PurePosixPath | None:
    """Where the Dockerfile's COPY instructions put ``repo_path`` (relative to the build context)."""
    workdir, found = PurePosixPath("/"), None
    for keyword, rest in dockerfile():
        if keyword == "WORKDIR":
            workdir = workdir / rest
        elif keyword == "COPY":
            *sources, dest = [part for part in rest.split() if not part.startswith("--")]
            target = workdir / dest
            for source in sources:
                source = source.rstrip("/")
                if source in ("", "."):
                    found = target / repo_path
                elif repo_path.startswith(source + "/"):
                    found = target / repo_path[len(source) + 1 :]
                elif repo_path == source:
                    into_dir = dest.endswith("/") or len(sources) > 1
                    found = target / PurePosixPath(repo_path).name if into_dir else target
    return found


# --- jobs/submit.py's command line --------------------------------------------------------------


@functools.cache
def submit_parser() -> tuple[dict[str, bool], tuple[str, ...]]:
    """jobs/submit.py's options (flag -> takes a value) and positionals, from its own --help."""
    result = subprocess.run(
        [sys.executable, str(SUBMIT), "--help"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        cwd=ROOT,
    )
    options: dict[str, bool] = {}
    positionals: list[str] = []
    section = None
    for line in result.stdout.splitlines():
        if line and not line.startswith(" "):
            section = line.rstrip(":")
        elif entry := re.match(r"  (\S.*?)(?:\s{2,}.*)?$", line):
            if section == "positional arguments":
                positionals.append(entry.group(1))
            elif section == "options":
                for spelling in entry.group(1).split(", "):
                    flag, *metavar = spelling.split()
                    options[flag] = bool(metavar)
    assert options and positionals, result.stdout
    return options, tuple(positionals)


def check_submit_arguments(args: list[str]) -> dict[str, str]:
    """Fail unless jobs/submit.py would accept ``args`` and find a job and dates in them.

    Returns the options given, by flag.
    """
    options, positionals = submit_parser()
    given: dict[str, str] = {}
    rest: list[str] = []
    tokens = iter(args)
    for token in tokens:
        if not token.startswith("-"):
            rest.append(token)
            continue
        flag, has_inline, inline = token.partition("=")
        assert flag in options, f"jobs/submit.py has no option {flag} (it has {sorted(options)})"
        if options[flag]:
            value = inline if has_inline else next(tokens, None)
            assert value is not None and not value.startswith("-"), f"{flag} needs a value: {args}"
            given[flag] = value
        else:
            given[flag] = ""
    assert len(rest) == len(positionals), f"expected {positionals}, got {rest} in {args}"
    # jobs/submit.py: the job is 'all' or a job's name; --date D, or --start D1 --end D2.
    if rest[0] != "all":
        from content_signals.jobs.runner import JOBS  # imports Great Expectations (seconds): only when needed

        assert rest[0] in JOBS, f"unknown job {rest[0]!r}"
    if "--date" in given:
        date.fromisoformat(given["--date"])
    else:
        assert "--start" in given and "--end" in given, f"no --date, nor --start and --end: {args}"
        assert date.fromisoformat(given["--start"]) <= date.fromisoformat(given["--end"]), args
    return given


# --- spark-submit command lines -------------------------------------------------------------


def spark_submit(command: str) -> tuple[dict[str, str], str, list[str]]:
    """The Spark settings, application file and application arguments of a spark-submit line."""
    line = next(line for line in re.sub(r"\\\n", " ", command).splitlines() if "spark-submit" in line)
    tokens = shlex.split(line)
    position = next(i for i, token in enumerate(tokens) if token.endswith("spark-submit")) + 1
    conf: dict[str, str] = {}
    while tokens[position].startswith("--"):
        flag, value = tokens[position : position + 2]
        if flag == "--conf":
            key, _, value = value.partition("=")
            conf[key] = value
        else:
            conf[SUBMIT_FLAGS.get(flag, flag)] = value
        position += 2
    return conf, tokens[position], tokens[position + 1 :]


def readme_spark_submit() -> tuple[dict[str, str], str, list[str]]:
    blocks = re.findall(r"```bash\n(.*?)```", (ROOT / "infra" / "README.md").read_text(), re.S)
    [block] = [b for b in blocks if "spark-submit" in b and "--deploy-mode cluster" in b]
    return spark_submit(block)


def cron_spark_submit() -> tuple[dict[str, str], str, list[str]]:
    [container] = cron_pod()["containers"]
    assert container["command"] == ["/bin/bash", "-c"]
    [script] = container["args"]
    return spark_submit(script)


def operator_conf(app: Doc) -> dict[str, str]:
    """The Spark settings the operator derives from a SparkApplication (as its submission code)."""
    spec, driver, executor = app["spec"], app["spec"]["driver"], app["spec"]["executor"]
    return {
        "spark.app.name": app["metadata"]["name"],
        "spark.submit.deployMode": spec["mode"],
        "spark.kubernetes.namespace": app["metadata"]["namespace"],
        "spark.kubernetes.container.image": spec["image"],
        "spark.kubernetes.container.image.pullPolicy": spec["imagePullPolicy"],
        "spark.kubernetes.driver.pod.name": f"{app['metadata']['name']}-driver",
        "spark.kubernetes.authenticate.driver.serviceAccountName": driver["serviceAccount"],
        "spark.driver.cores": str(driver["cores"]),
        "spark.kubernetes.driver.request.cores": str(driver["coreRequest"]),
        "spark.driver.memory": driver["memory"],
        "spark.driver.memoryOverhead": driver["memoryOverhead"],
        "spark.executor.instances": str(executor["instances"]),
        "spark.executor.cores": str(executor["cores"]),
        "spark.kubernetes.executor.request.cores": str(executor["coreRequest"]),
        "spark.executor.memory": executor["memory"],
        "spark.executor.memoryOverhead": executor["memoryOverhead"],
        **spec["sparkConf"],
    }


def pvc_mounts(conf: dict[str, str], role: str) -> dict[str, str]:
    """claimName -> mount path of the PersistentVolumeClaims Spark mounts into ``role``'s pods."""
    prefix = f"spark.kubernetes.{role}.volumes.persistentVolumeClaim."
    names = {key[len(prefix) :].split(".")[0] for key in conf if key.startswith(prefix)}
    return {conf[f"{prefix}{n}.options.claimName"]: conf[f"{prefix}{n}.mount.path"] for n in names}


# --- the tests ------------------------------------------------------------------------------


def test_every_document_is_an_expected_kind_in_one_namespace() -> None:
    kinds = sorted(doc["kind"] for _, doc in documents())
    assert kinds == sorted(API_VERSIONS), "one of each kind expected under infra/spark"
    for path, doc in documents():
        assert doc["apiVersion"] == API_VERSIONS[doc["kind"]], (path.name, doc["kind"])
        if doc["kind"] != "Pod":
            assert doc["metadata"]["name"], path.name
            assert doc["metadata"]["namespace"] == one("ServiceAccount")["metadata"]["namespace"]


def test_application_file_is_jobs_submit_py_where_the_dockerfile_puts_it() -> None:
    assert SUBMIT.is_file()
    in_image = path_in_image(SUBMIT.relative_to(ROOT).as_posix())
    assert in_image is not None, "the Dockerfile does not copy jobs/submit.py into the image"
    assert one("SparkApplication")["spec"]["mainApplicationFile"] == f"local://{in_image}"
    assert readme_spark_submit()[1] == f"local://{in_image}"
    assert cron_spark_submit()[1] == str(in_image)  # client mode: a path in the driver's own image


def test_image_versions_match_the_project() -> None:
    # Spark: the base image's (JVM side) = the pinned pyspark (Python side) = the operator's.
    pinned = re.search(r"^pyspark==(\S+)$", (ROOT / "constraints.txt").read_text(), re.M)
    assert pinned is not None
    instructions = dockerfile()
    [version] = [rest.split("=", 1)[1] for kw, rest in instructions if kw == "ARG" and "=" in rest]
    [base] = [rest for kw, rest in instructions if kw == "FROM"]
    assert base.startswith("apache/spark:${SPARK_VERSION}-"), base
    assert version == pinned.group(1) == one("SparkApplication")["spec"]["sparkVersion"]
    # Python: the interpreter the project's virtual environment is made with is one it supports.
    runs = " ".join(rest for kw, rest in instructions if kw == "RUN")
    venv = re.search(r"python(3\.\d+) -m venv", runs)
    assert venv is not None, "the Dockerfile makes no virtual environment"
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert SpecifierSet(requires).contains(f"{venv.group(1)}.0"), (venv.group(1), requires)


def test_every_run_passes_arguments_jobs_submit_py_accepts() -> None:
    check_submit_arguments(one("SparkApplication")["spec"]["arguments"])
    check_submit_arguments(readme_spark_submit()[2])
    cron_args = cron_spark_submit()[2]
    assert cron_args[cron_args.index("--date") + 1] == DAILY_DATE
    check_submit_arguments([arg.replace(DAILY_DATE, "2026-01-07") for arg in cron_args])


def test_the_daily_date_command_prints_yesterday_in_utc() -> None:
    if subprocess.run(["date", "--version"], capture_output=True, check=False).returncode != 0:
        pytest.skip("needs GNU date, as in the image")
    before = datetime.now(UTC).date()
    printed = subprocess.run(
        shlex.split(DAILY_DATE[2:-1]), capture_output=True, text=True, check=True, timeout=30
    ).stdout.strip()
    after = datetime.now(UTC).date()
    assert date.fromisoformat(printed) in {before - timedelta(days=1), after - timedelta(days=1)}


def test_submit_py_help_parsing_rejects_what_the_parser_would() -> None:
    # The argument check above is only as good as its reading of --help.
    with pytest.raises(AssertionError, match="no option --day"):
        check_submit_arguments(["all", "--day", "2026-01-07"])
    with pytest.raises(AssertionError, match="needs a value"):
        check_submit_arguments(["all", "--date", "--config", "x.yaml"])
    with pytest.raises(AssertionError, match="expected"):
        check_submit_arguments(["all", "extra", "--date", "2026-01-07"])


def driver_setups() -> dict[str, tuple[Doc, Doc, dict[str, str], dict[str, str], list[str]]]:
    """Per way of running: (driver container, driver pod spec, PVC mounts of the driver and of the
    executors as claimName -> path, jobs/submit.py arguments)."""
    app = one("SparkApplication")
    template = pod_template()[1]["spec"]
    [template_container] = template["containers"]
    conf = operator_conf(app)
    readme_conf, _, readme_args = readme_spark_submit()
    cron_conf, _, cron_args = cron_spark_submit()
    [cron_container] = cron_pod()["containers"]
    cron_volumes = {v["name"]: v for v in cron_pod()["volumes"]}
    cron_mounts = {
        cron_volumes[m["name"]]["persistentVolumeClaim"]["claimName"]: m["mountPath"]
        for m in cron_container["volumeMounts"]
        if "persistentVolumeClaim" in cron_volumes[m["name"]]
    }
    return {
        "operator": (
            template_container,
            template,
            pvc_mounts(conf, "driver"),
            pvc_mounts(conf, "executor"),
            app["spec"]["arguments"],
        ),
        "README spark-submit": (
            template_container,
            template,
            pvc_mounts(readme_conf, "driver"),
            pvc_mounts(readme_conf, "executor"),
            readme_args,
        ),
        "cronjob": (
            cron_container,
            cron_pod(),
            cron_mounts,
            pvc_mounts(cron_conf, "executor"),
            [arg.replace(DAILY_DATE, "2026-01-07") for arg in cron_args],
        ),
    }


def test_the_configmap_config_loads_and_puts_the_data_on_the_shared_volume(tmp_path: Path) -> None:
    config_map = one("ConfigMap")
    [(key, text)] = config_map["data"].items()
    path = tmp_path / key
    path.write_text(text)
    # Without the driver's environment the config must not load: a default data_dir would be the
    # driver pod's own disk, which executors cannot see.
    with pytest.raises(SignalsError, match="not set"):
        load_config(path, environ={})

    claim = one("PersistentVolumeClaim")
    claim_name = claim["metadata"]["name"]
    assert "ReadWriteMany" in claim["spec"]["accessModes"]
    for run, (container, pod_spec, driver_mounts, executor_mounts, arguments) in driver_setups().items():
        environ = {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}
        config = load_config(path, environ=environ)
        # The claim is mounted at one path in the driver and every executor, and holds data_dir.
        assert set(driver_mounts) == {claim_name}, run
        assert executor_mounts == driver_mounts, run
        assert config.data_dir.is_relative_to(Path(driver_mounts[claim_name]).resolve()), run
        # --config names the ConfigMap's key, where the driver mounts the ConfigMap.
        volumes = {v["name"]: v for v in pod_spec["volumes"]}
        [mount] = [m for m in container["volumeMounts"] if "configMap" in volumes[m["name"]]]
        assert volumes[mount["name"]]["configMap"]["name"] == config_map["metadata"]["name"], run
        given = check_submit_arguments(arguments)
        assert given["--config"] == str(PurePosixPath(mount["mountPath"]) / key), run


def test_the_driver_account_may_do_what_a_driver_does() -> None:
    account, role, binding = one("ServiceAccount"), one("Role"), one("RoleBinding")
    granted: dict[str, set[str]] = {}
    for rule in role["rules"]:
        if "" in rule["apiGroups"]:
            for resource in rule["resources"]:
                granted.setdefault(resource, set()).update(rule["verbs"])
    for resource, verbs in DRIVER_NEEDS.items():
        assert verbs <= granted.get(resource, set()), (resource, verbs - granted.get(resource, set()))
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": role["metadata"]["name"],
    }
    assert {"kind": "ServiceAccount", **{k: account["metadata"][k] for k in ("name", "namespace")}} in (
        binding["subjects"]
    )
    name = account["metadata"]["name"]
    assert one("SparkApplication")["spec"]["driver"]["serviceAccount"] == name
    assert cron_pod()["serviceAccountName"] == name


def test_operator_readme_and_cronjob_describe_the_same_run() -> None:
    app = one("SparkApplication")
    expected = operator_conf(app)
    readme, _, _ = readme_spark_submit()
    template_path, template = pod_template()
    # The README's pod template file is the operator's driver.template.
    assert ROOT / readme.pop("spark.kubernetes.driver.podTemplateFile") == template_path
    assert app["spec"]["driver"]["template"] == {k: template[k] for k in ("metadata", "spec")}
    assert readme.pop("spark.master").startswith("k8s://https://")  # the operator sets its own
    assert readme == expected

    # The CronJob's pod is the driver (client mode): its executors match; its driver is the pod.
    cron, _, _ = cron_spark_submit()
    [container] = cron_pod()["containers"]
    assert cron.pop("spark.master").startswith("k8s://https://kubernetes.default.svc")
    assert cron["spark.submit.deployMode"] == "client"
    executor_keys = [k for k in expected if k.startswith(("spark.executor.", "spark.kubernetes.executor."))]
    for key in [*executor_keys, "spark.kubernetes.container.image"]:
        assert cron.get(key) == expected[key], key
    assert container["image"] == expected["spark.kubernetes.container.image"]
    assert cron["spark.driver.memory"] == expected["spark.driver.memory"]
    # Client mode adds no memory overhead: the pod itself must hold the heap and the overhead.
    heap_and_overhead = memory_bytes(expected["spark.driver.memory"]) + memory_bytes(
        expected["spark.driver.memoryOverhead"]
    )
    assert memory_bytes(container["resources"]["requests"]["memory"]) >= heap_and_overhead
    assert memory_bytes(container["resources"]["limits"]["memory"]) >= heap_and_overhead
    # Executors find the driver by the pod's IP and are owned by the pod: both from the pod itself.
    fields = {
        e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"] for e in container["env"] if "valueFrom" in e
    }
    for key, field in (
        ("spark.driver.host", "status.podIP"),
        ("spark.kubernetes.driver.pod.name", "metadata.name"),
        ("spark.kubernetes.namespace", "metadata.namespace"),
    ):
        variable = re.fullmatch(r"\$(\w+)", cron[key])
        assert variable is not None and fields.get(variable.group(1)) == field, (key, cron[key])


# --- serving on a Ray cluster: infra/serve and infra/kuberay ----------------------------------

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
