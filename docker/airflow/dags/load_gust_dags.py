"""Load gust's DAG files (dag-factory YAML) into Airflow 2.9+ / 3.x.

Put this file in Airflow's DAG folder. It loads every *.yaml / *.yml in GUST_DAGS_FOLDER
(default /opt/gust/dags) and next to this file (the example gust_trigger_example.yaml) with
dag-factory's load_yaml_dags, then adapts the KubernetesPodOperator tasks to the cluster:

  GUST_IMAGE          image for tasks whose YAML says `image: gust:latest`
                      (e.g. registry.example.com/gust:1.0; unset: keep the YAML's)
  GUST_K8S_NAMESPACE  namespace of the task pods (default "gust", where docker/k8s puts the
                      ConfigMap gust-config and the Secret gust-db)
  GUST_ENV_CONFIGMAP  ConfigMap given to every pod as environment (default gust-config)
  GUST_ENV_SECRET     Secret given to every pod as environment (default gust-db)

Nothing else changes: the commands, arguments, templates, retries and XCom (do_xcom_push:
the task writes /airflow/xcom/return.json, which KPO's sidecar reads) come from the YAML, as
gust runs them. Requires dag-factory >= 1.0 and apache-airflow-providers-cncf-kubernetes.
(This module mentions "airflow" and "dag", so Airflow's safe-mode parser imports it.)
"""

import os
from pathlib import Path

from dagfactory import load_yaml_dags

try:  # Airflow 3
    from airflow.sdk import DAG
except ImportError:  # Airflow 2
    from airflow.models import DAG

from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from kubernetes.client import models as k8s

GUST_DAGS_FOLDER = os.environ.get("GUST_DAGS_FOLDER", "/opt/gust/dags")
GUST_IMAGE = os.environ.get("GUST_IMAGE", "")
NAMESPACE = os.environ.get("GUST_K8S_NAMESPACE", "gust")
ENV_CONFIGMAP = os.environ.get("GUST_ENV_CONFIGMAP", "gust-config")
ENV_SECRET = os.environ.get("GUST_ENV_SECRET", "gust-db")
YAML_SUFFIXES = [".yaml", ".yml"]


def _adapt_pod_task(task):
    """Point one KPO task at the cluster: image, namespace, environment from the ConfigMap
    and Secret (endpoints, GUST_DATABASE_URL, PGPASSWORD)."""
    if GUST_IMAGE and task.image in ("gust", "gust:latest"):
        task.image = GUST_IMAGE
    if not task.namespace:
        task.namespace = NAMESPACE
    env_from = list(task.env_from or [])
    env_from.append(k8s.V1EnvFromSource(config_map_ref=k8s.V1ConfigMapEnvSource(name=ENV_CONFIGMAP)))
    env_from.append(k8s.V1EnvFromSource(secret_ref=k8s.V1SecretEnvSource(name=ENV_SECRET)))
    task.env_from = env_from


def _load(folder):
    if Path(folder).is_dir():
        load_yaml_dags(globals_dict=globals(), dags_folder=str(folder), suffix=YAML_SUFFIXES)


_load(GUST_DAGS_FOLDER)
_load(Path(__file__).resolve().parent)

for _dag in [v for v in list(globals().values()) if isinstance(v, DAG)]:
    for _task in _dag.tasks:
        if isinstance(_task, KubernetesPodOperator):
            _adapt_pod_task(_task)
