"""A typed Python client of the Eyeflow gateway's HTTP API (docs/client.md).

    from eyeflow_worker.client import EyeflowClient, InvalidRequest

    with EyeflowClient("http://127.0.0.1:8000", token="…", tenant="acme") as client:
        job = client.submit_generate("Alert the team when database memory exceeds 85%")
        task = client.wait(job.task_id, timeout=60)
        print(task.rules_result().workflow_rules.rules[0].condition)

It imports nothing of the fleet (it talks HTTP only, like the `eyeflow` command built on it):
httpx and pydantic are all it needs. `AsyncEyeflowClient` is the same API, awaitable.
"""

from eyeflow_worker.client.aio import AsyncEyeflowClient
from eyeflow_worker.client.calls import MAX_PAGE_SIZE, MAX_WAIT_SECONDS
from eyeflow_worker.client.errors import (
    AuthError,
    Conflict,
    EyeflowError,
    Forbidden,
    GatewayError,
    InvalidRequest,
    Issue,
    NetworkError,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    ResultUnavailable,
    Unauthenticated,
    Unavailable,
    UnexpectedResponse,
)
from eyeflow_worker.client.models import (
    TERMINAL,
    Accepted,
    Action,
    BatchItem,
    BatchPage,
    EvaluateResult,
    FeedbackApplied,
    FeedbackNotApplied,
    Progress,
    RefineResult,
    RetriedTask,
    Rule,
    RulesResult,
    Task,
    TaskError,
    Usage,
    WorkflowRules,
)
from eyeflow_worker.client.settings import DEFAULT_TENANT, DEFAULT_URL, ClientSettings
from eyeflow_worker.client.sync import EyeflowClient

__all__ = [
    "DEFAULT_TENANT",
    "DEFAULT_URL",
    "MAX_PAGE_SIZE",
    "MAX_WAIT_SECONDS",
    "TERMINAL",
    "Accepted",
    "Action",
    "AsyncEyeflowClient",
    "AuthError",
    "BatchItem",
    "BatchPage",
    "ClientSettings",
    "Conflict",
    "EvaluateResult",
    "EyeflowClient",
    "EyeflowError",
    "FeedbackApplied",
    "FeedbackNotApplied",
    "Forbidden",
    "GatewayError",
    "InvalidRequest",
    "Issue",
    "NetworkError",
    "NotFound",
    "PayloadTooLarge",
    "Progress",
    "RateLimited",
    "RefineResult",
    "ResultUnavailable",
    "RetriedTask",
    "Rule",
    "RulesResult",
    "Task",
    "TaskError",
    "Unauthenticated",
    "Unavailable",
    "UnexpectedResponse",
    "Usage",
    "WorkflowRules",
]
