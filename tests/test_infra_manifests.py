"""The Spark-on-Kubernetes manifests in infra/spark agree with the code they run; no cluster needed.

Nothing here can start a pod, so this checks what would otherwise only fail on a cluster: the
application file is where the Dockerfile puts jobs/submit.py, every argument is one its parser
accepts, the ConfigMap's config loads with content_signals.config and puts the data directory on
the shared volume, the Role grants what a Spark driver does, and the operator's SparkApplication,
the daily CronJob and the spark-submit command in infra/README.md describe the same run. The serving
manifests are checked in ``tests/test_infra_serving.py``.
"""

from __future__ import annotations

import functools
import re
import shlex
import subprocess
import sys
import tomllib
from datetime import UTC, date, datetime, timedelta
from pathlib import Path, PurePosixPath

import pytest
from packaging.specifiers import SpecifierSet

from content_signals.config import load_config
from content_signals.errors import SignalsError
from tests.infra import ROOT, Doc, cron_pod, dockerfile, documents, one, path_in_image

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


def pod_template() -> tuple[Path, Doc]:
    [(path, doc)] = [(p, d) for p, d in documents() if d["kind"] == "Pod"]
    return path, doc


def memory_bytes(quantity: str) -> int:
    """A Spark size ("2g") or a Kubernetes quantity ("3Gi") in bytes."""
    match = re.fullmatch(r"(\d+)([a-zA-Z]*)", quantity)
    assert match is not None, quantity
    factor = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "ki": 2**10, "mi": 2**20, "gi": 2**30}
    return int(match.group(1)) * factor[match.group(2).lower()]


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
