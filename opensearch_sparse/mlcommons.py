"""ml-commons, on opensearch-py's ``client.ml``: model groups, chunked registration, deploy with
task polling, sparse predict, and teardown.

Registration is content-addressed: a zip whose sha256 is already registered is reused, so
running the same command twice never piles up copies of one model.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal, TypeVar

from opensearchpy import OpenSearch
from opensearchpy.exceptions import NotFoundError, TransportError

from opensearch_sparse import config
from opensearch_sparse.client import ask_again_when_busy, is_transient, server_reason
from opensearch_sparse.errors import SparseError
from opensearch_sparse.model_package import ModelPackage
from opensearch_sparse.progress import Status, quiet

logger = logging.getLogger(__name__)
T = TypeVar("T")

CHUNK_BYTES = 10_000_000  # ml-commons' maximum chunk size
#: What a deploy task says on a node where another deploy of the same model is still running
#: (ml-commons redeploys models by itself when a cluster restarts), whose update of the model
#: document lost to that other deploy's, or whose model state that other deploy just changed.
LOST_RACE = (
    "Duplicate deploy model task",
    "version conflict",
    "should only be called when model is in DEPLOYING state",
)
#: What a node says when the zip it rebuilt from the chunks does not hash to the registered
#: sha256. ml-commons appends the chunks to ``deploy/<model id>/<name>.zip`` (FileUtils.
#: mergeFiles opens it for append), so a zip left there by a deploy cut off by a node stop or
#: kill corrupts the next one; the node deletes its copy with this failure, so one retry
#: downloads into a clean folder (ml-commons issue 844).
STALE_DOWNLOAD = ("model content changed",)
#: Retries after STALE_DOWNLOAD before the stored chunks themselves are blamed.
MAX_REFETCH = 2
#: Deploys asked again after one that completed left the model in another state than DEPLOYED.
MAX_REDEPLOY = 3
#: Other deploy tasks created up to this long before this one count as racing it.
RACE_WINDOW_MS = 60_000
#: How long a completed deploy waits for racing ones to end. A redeploy that loses the race
#: fails at once ("Duplicate deploy model task"); one that stays CREATED or RUNNING longer was
#: left so by a node restart (the crash-recovery test saw one CREATED for good) and is not
#: waited for.
SETTLE_S = 10.0
#: States in which a model with the right hash is complete and may be reused. Anything else
#: (REGISTERING after a cut-off upload, REGISTER_FAILED, DEPLOY_FAILED) is deleted instead.
REUSABLE_STATES = frozenset(
    {"REGISTERED", "DEPLOYING", "DEPLOYED", "PARTIALLY_DEPLOYED", "UNDEPLOYED"}
)


#: What a deploy task's state means for the caller (``deploy_outcome``).
DeployStatus = Literal["done", "running", "again", "refetch", "failed"]


def deploy_outcome(task: dict[str, Any]) -> tuple[DeployStatus, str]:
    """What a deploy task's state means for the caller, with the server's error text: "done",
    "running", "again" (every node that failed lost a race with another deploy of the same
    model: ask again), "refetch" (some node rebuilt the zip onto a stale one, the rest lost
    races: ask again, a bounded number of times) or "failed".

    ml-commons ends a deploy that failed on some nodes as COMPLETED_WITH_ERROR (the model is
    PARTIALLY_DEPLOYED) and one that failed on all as FAILED; ``error`` is then a JSON object
    of node id to message (TransportForwardAction). Waiting for COMPLETED alone turned a lost
    race on a restarted 3-node cluster into a 600 s timeout.
    """
    state = task.get("state")
    if state == "COMPLETED":
        return "done", ""
    if state not in ("FAILED", "COMPLETED_WITH_ERROR", "CANCELLED"):
        return "running", ""
    error = str(task.get("error", "no error message"))
    try:
        per_node = json.loads(error)
    except ValueError:
        per_node = None
    messages = [str(m) for m in per_node.values()] if isinstance(per_node, dict) else [error]
    if state != "CANCELLED" and all(any(m in msg for m in LOST_RACE) for msg in messages):
        return "again", error
    retryable = LOST_RACE + STALE_DOWNLOAD
    if state != "CANCELLED" and all(any(m in msg for m in retryable) for msg in messages):
        return "refetch", error
    if state == "COMPLETED_WITH_ERROR":
        return "failed", f"deployed on some nodes only: {error}"
    return "failed", error


def unless_busy(request: Callable[[], T], progress: Status, pause_s: float) -> T | None:
    """``request()``, or None after ``pause_s`` when the node answers that it is busy.

    A node loading a model is the one most likely to trip its real-memory circuit breaker (a
    429 that says TRANSIENT; CI saw it on a 512 MB node); the task it runs is unharmed, so a
    poll waits that out within its caller's deadline instead of abandoning a deploy that is
    going well.
    """
    try:
        return request()
    except TransportError as exc:
        if not is_transient(exc):
            raise
        progress(f"the node is busy ({server_reason(exc)}); asking again")
        time.sleep(pause_s)
        return None


def patiently(request: Callable[[], T], deadline: float, progress: Status, pause_s: float) -> T:
    """``request()``, asked again while the node answers that it is busy, until ``deadline``.

    For the requests a command cannot go on without (the model's existence check before a
    deploy, the undeploy before a delete): one transient 429 there used to end the command
    although the node recovered seconds later (CI, once). Past ``deadline`` the last answer,
    the server's error included, is the caller's.
    """

    def until_deadline() -> Iterator[float]:
        while time.monotonic() < deadline:
            yield pause_s

    return ask_again_when_busy(
        request,
        until_deadline(),
        lambda exc: progress(f"the node is busy ({server_reason(exc)}); asking again"),
    )


class ModelDeployError(SparseError):
    """ml-commons reported a failed deploy (its message is carried verbatim)."""


class ModelNotFoundError(SparseError):
    """No model with that id (or name) is registered."""


@dataclass(frozen=True)
class ModelInfo:
    model_id: str
    name: str
    state: str
    model_format: str
    function_name: str
    content_hash: str | None


class MLCommons:
    """The ml-commons calls the product makes, with the product's errors."""

    def __init__(self, client: OpenSearch, poll_interval_s: float = 1.0) -> None:
        self.client = client
        self.ml = client.plugins.ml
        self.poll_interval_s = poll_interval_s

    # --- settings -------------------------------------------------------------------------

    def apply_settings(self) -> dict[str, tuple[str, str]]:
        """Make the cluster accept and run local models; returns ``{setting: (old, new)}``.

        Persistent and cluster-wide (it lifts memory and disk breakers): called for the
        embedded node and for ``model register --apply-test-settings`` only, never implicitly.
        """
        current = self.client.cluster.get_settings(include_defaults=True, flat_settings=True)
        merged = {**current["defaults"], **current["persistent"], **current["transient"]}
        changes = {
            k: (str(merged.get(k)), v)
            for k, v in config.ML_COMMONS_SETTINGS.items()
            if str(merged.get(k)).lower() != v
        }
        if changes:
            body = {"persistent": {k: new for k, (_, new) in changes.items()}}
            self.client.cluster.put_settings(body=body)
        return changes

    # --- groups and registration ----------------------------------------------------------

    def model_group(self, name: str, description: str = "") -> str:
        """The id of the model group called ``name``, created when missing."""
        found = self.ml.search_model_group(
            body={"query": {"term": {"name.keyword": name}}, "size": 1}
        )
        hits = found.get("hits", {}).get("hits", [])
        if hits:
            return str(hits[0]["_id"])
        created = self.ml.register_model_group(
            body={"name": name, "description": description or f"{name} (opensearch-sparse)"}
        )
        return str(created["model_group_id"])

    def stale_by_hash(self, sha256: str) -> list[str]:
        """Ids of models with this hash that must not be reused: an upload that was cut off
        (still ``REGISTERING``), or a failed registration or deploy."""
        return [str(h["_id"]) for h in self._by_hash(sha256) if _state(h) not in REUSABLE_STATES]

    def _by_hash(self, sha256: str) -> list[dict[str, Any]]:
        body = {
            "query": {
                "bool": {
                    "must": [{"term": {"model_content_hash_value": sha256}}],
                    "must_not": [{"exists": {"field": "chunk_number"}}],
                }
            },
            "size": 100,
        }
        try:
            hits: list[dict[str, Any]] = self.ml.search_models(body=body)["hits"]["hits"]
        except NotFoundError:  # no model index yet
            return []
        # Search is near-real-time: a model that has just become REGISTERED can still show
        # REGISTERING there for up to a refresh interval, and would be deleted as a cut-off
        # upload. GET is real-time, so the state that decides reuse or deletion comes from it.
        fresh = []
        for hit in hits:
            try:
                source = self.ml.get_model(model_id=hit["_id"])
            except NotFoundError:  # deleted since the search
                continue
            fresh.append({"_id": hit["_id"], "_source": source})
        return fresh

    def register(
        self,
        package: ModelPackage,
        *,
        group: str = "opensearch-sparse",
        name: str | None = None,
        progress: Status = quiet,
    ) -> tuple[str, bool]:
        """Register the zip (chunked upload); returns (model_id, reused)."""
        # A healthy model with this hash is reused; otherwise every one found is stale.
        found = self._by_hash(package.sha256)
        usable = [h for h in found if _state(h) in REUSABLE_STATES]
        if usable:
            return str(usable[0]["_id"]), True
        for stale in (str(h["_id"]) for h in found):
            progress(f"deleting model {stale}: an earlier upload of this zip that never finished")
            self.delete(stale)
        group_id = self.model_group(group)
        total = max(1, math.ceil(package.size / CHUNK_BYTES))
        meta = self.ml.register_model_meta(
            body={
                "name": name or package.name,
                "version": "1",
                "model_group_id": group_id,
                "description": f"{package.path.name} sha256:{package.sha256[:12]}",
                "function_name": package.function_name,
                "model_format": package.model_format,
                "model_content_size_in_bytes": package.size,
                "model_content_hash_value": package.sha256,
                "total_chunks": total,
            }
        )
        model_id = str(meta["model_id"])
        with package.path.open("rb") as handle:
            for number in range(total):
                progress(f"uploading chunk {number + 1}/{total}")
                self.ml.upload_chunk(
                    model_id=model_id,
                    chunk_number=number,
                    body=handle.read(CHUNK_BYTES),
                    headers={"Content-Type": "application/json"},
                )
        self._wait_registered(model_id, progress)
        return model_id, False

    def _wait_registered(self, model_id: str, progress: Status, timeout_s: float = 300.0) -> None:
        """ml-commons finishes a registration after the last chunk, asynchronously. Return only
        once it has: a model still ``REGISTERING`` later can then only be a cut-off upload,
        and the next run's clean-up never deletes the one this run just made."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            info = unless_busy(lambda: self.get(model_id), progress, 5 * self.poll_interval_s)
            if info is None:
                continue
            state = info.state
            if state in REUSABLE_STATES:
                return
            if state != "REGISTERING":
                raise ModelDeployError(
                    f"registration of {model_id} ended in {state}",
                    "read the node log (`opensearch-sparse cluster logs`), then register again",
                )
            progress(f"waiting for ml-commons to finish registering ({state})")
            time.sleep(self.poll_interval_s)
        raise ModelDeployError(
            f"model {model_id} was still REGISTERING {timeout_s:.0f}s after its last chunk",
            "check the cluster's health and log, then register again (the upload is retried)",
        )

    # --- deploy and predict ---------------------------------------------------------------

    def deploy(self, model_id: str, *, timeout_s: float = 600.0, progress: Status = quiet) -> None:
        """Deploy and wait for the task; the server's error text is surfaced verbatim.

        Always asks the server, even when the model document says DEPLOYED: after a node
        restart that state can be stale.
        """
        started = time.monotonic()
        deadline = started + timeout_s
        pause = 5 * self.poll_interval_s
        patiently(lambda: self.get(model_id), deadline, progress, pause)
        task_id = self._start_deploy(model_id, deadline, progress)
        refetches = redeploys = 0
        while time.monotonic() < deadline:
            task = unless_busy(
                partial(self.ml.get_task, task_id=task_id), progress, 5 * self.poll_interval_s
            )
            if task is None:
                continue
            outcome, error = deploy_outcome(task)
            if outcome == "done":
                since = int(task.get("create_time") or time.time() * 1000) - RACE_WINDOW_MS
                settle = min(deadline, time.monotonic() + SETTLE_S)
                state = self._state_once_alone(model_id, since, settle, progress)
                if state == "DEPLOYED":
                    return
                # ml-commons redeploys models by itself (after a restart, when nodes join): a
                # redeploy that loses the race to this one marks the model DEPLOY_FAILED after
                # this task deployed it everywhere (the 3-node test cluster, once). Asking
                # again is quick on nodes that serve the model and writes DEPLOYED back.
                redeploys += 1
                if redeploys > MAX_REDEPLOY:
                    raise ModelDeployError(
                        f"deploy of {model_id} completed {redeploys} times, but the model "
                        f"stays {state}",
                        "read the node log (`opensearch-sparse cluster logs`), then deploy again",
                    )
                progress(f"another deploy left the model {state}; deploying again")
                task_id = self._start_deploy(model_id, deadline, progress)
                continue
            if outcome == "refetch":
                refetches += 1
                if refetches > MAX_REFETCH:
                    raise ModelDeployError(
                        f"deploy of {model_id} failed {refetches} times: the model the cluster "
                        f"stores does not match its sha256 ({error})",
                        f"delete it (`opensearch-sparse model delete {model_id}`) and register "
                        "the zip again",
                    )
                progress("a node rebuilt the model onto a stale download; deploying again")
                task_id = self._start_deploy(model_id, deadline, progress)
                continue
            if outcome == "again":
                # Another deploy of this model was in flight (ml-commons redeploys models by
                # itself after a restart) and won on some nodes: let it finish, then ask again;
                # a node that already serves the model answers at once.
                progress("another deploy of this model is running; waiting for it")
                time.sleep(5 * self.poll_interval_s)
                task_id = self._start_deploy(model_id, deadline, progress)
                continue
            if outcome == "failed":
                raise ModelDeployError(
                    f"deploy of {model_id} failed: {error}",
                    "read the node log (`opensearch-sparse cluster logs`) for the full trace",
                )
            progress(f"deploying ({task.get('state', '?')}, {time.monotonic() - started:.0f}s)")
            time.sleep(self.poll_interval_s)
        raise ModelDeployError(
            f"deploy of {model_id} did not finish within {timeout_s:.0f}s (task {task_id})",
            "raise --timeout, or check the node's memory and log",
        )

    def _state_once_alone(
        self, model_id: str, since_ms: int, deadline: float, progress: Status
    ) -> str:
        """The model's state once no other deploy task of it created since ``since_ms`` (the
        node's clock) runs and it is not DEPLOYING (or as it is at ``deadline``).

        Waiting for the others matters: the state a losing redeploy writes lands after this
        caller's own task has completed. Older tasks are not waited for: ml-commons leaves a
        deploy task RUNNING for good when a node dies under it (the 3-node test cluster keeps
        such tasks from earlier runs), and ``deadline`` bounds the wait for recent ones left
        so. A user who may not search tasks skips the wait.
        """
        body = {
            "query": {
                "bool": {
                    "filter": [
                        {"term": {"model_id": model_id}},
                        {"term": {"task_type": "DEPLOY_MODEL"}},
                        {"terms": {"state": ["CREATED", "RUNNING"]}},
                        {"range": {"create_time": {"gte": since_ms}}},
                    ]
                }
            },
            "size": 0,
        }
        searchable = True
        state = "unknown"
        pause = 5 * self.poll_interval_s
        while time.monotonic() < deadline:
            found: dict[str, Any] | None = {}
            if searchable:
                try:
                    found = unless_busy(partial(self.ml.search_tasks, body=body), progress, pause)
                except TransportError as exc:
                    logger.debug("cannot search ml-commons tasks: %s", server_reason(exc))
                    searchable = False
            info = unless_busy(lambda: self.get(model_id), progress, pause)
            if found is None or info is None:
                continue
            state = info.state
            running = found.get("hits", {}).get("total", {}).get("value", 0)
            if not running and state != "DEPLOYING":
                return state
            progress(f"waiting for other deploys of this model ({state})")
            time.sleep(self.poll_interval_s)
        return state

    def _start_deploy(self, model_id: str, deadline: float, progress: Status) -> str:
        pause = 5 * self.poll_interval_s
        try:
            answer = patiently(
                partial(self.ml.deploy_model, model_id=model_id), deadline, progress, pause
            )
            return str(answer["task_id"])
        except TransportError as exc:
            raise ModelDeployError(
                f"deploy of {model_id} was refused: {server_reason(exc)}",
                "check `opensearch-sparse cluster logs` and the ml-commons settings",
            ) from exc

    def predict_sparse(
        self, model_id: str, texts: list[str], *, algorithm: str = "sparse_encoding"
    ) -> list[dict[str, float]]:
        """The server's token weights for each text (one map per text); ``algorithm`` is
        ``sparse_tokenize`` for a SPARSE_TOKENIZE model."""
        resp = self.ml.predict(
            algorithm_name=algorithm, model_id=model_id, body={"text_docs": texts}
        )
        results = []
        for item in resp["inference_results"]:
            data = item["output"][0]["dataAsMap"]["response"]
            results.append({str(k): float(v) for k, v in data[0].items()})
        return results

    # --- inspection and teardown ----------------------------------------------------------

    def get(self, model_id: str) -> ModelInfo:
        try:
            doc = self.ml.get_model(model_id=model_id)
        except NotFoundError as exc:
            raise ModelNotFoundError(
                f"no model {model_id} in ml-commons",
                "list models with `opensearch-sparse model list`",
            ) from exc
        return _info({"_id": model_id, "_source": doc})

    def list(self) -> list[ModelInfo]:
        body = {
            "query": {"bool": {"must_not": [{"exists": {"field": "chunk_number"}}]}},
            "size": 1000,
        }
        try:
            hits = self.ml.search_models(body=body)["hits"]["hits"]
        except NotFoundError:
            return []
        return [_info(h) for h in hits]

    def undeploy(self, model_id: str) -> None:
        self.get(model_id)
        self.ml.undeploy_model(model_id=model_id)

    def delete(self, model_id: str, *, timeout_s: float = 60.0, progress: Status = quiet) -> None:
        """Undeploy when needed, then delete; a busy node is asked again until ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        pause = 5 * self.poll_interval_s
        info = patiently(lambda: self.get(model_id), deadline, progress, pause)
        if info.state in ("DEPLOYED", "PARTIALLY_DEPLOYED", "DEPLOYING"):
            patiently(partial(self.ml.undeploy_model, model_id=model_id), deadline, progress, pause)
        patiently(partial(self.ml.delete_model, model_id=model_id), deadline, progress, pause)


def _state(hit: dict[str, Any]) -> str:
    return str(hit["_source"].get("model_state", ""))


def _info(hit: dict[str, Any]) -> ModelInfo:
    src = hit["_source"]
    return ModelInfo(
        model_id=str(hit["_id"]),
        name=str(src.get("name", "")),
        state=str(src.get("model_state", "")),
        model_format=str(src.get("model_format", "")),
        function_name=str(src.get("algorithm", src.get("function_name", ""))),
        content_hash=src.get("model_content_hash_value"),
    )
