"""Interactive jobs — generate, refine, evaluate — on the interactive queue."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from eyeflow_worker.celery_app import app
from eyeflow_worker.core.routing import Tasks
from eyeflow_worker.evaluation import LLMChoice, evaluate_condition_job
from eyeflow_worker.rules.service import generate_rules, refine_rules
from eyeflow_worker.tasks.base import TASK_OPTIONS, RuntimeTask
from eyeflow_worker.tasks.execution import JobContext, JobWork, job_already_ended, run_job
from eyeflow_worker.tasks.leasing import StartedJob, leased_job, message, redelivered

# A plain-English verdict depends on the context values, which change; an hour bounds staleness.
_CONDITION_CACHE_TTL_SECONDS = 3600


def _generate(payload: Mapping[str, Any], job: JobContext) -> dict[str, Any]:
    return generate_rules(
        job.llm(),
        payload["user_intent"],
        job.aggregated_context(payload.get("aggregated_context")),
        max_repair_attempts=job.rt.settings.rules_max_repair_attempts,
    )


def _refine(payload: Mapping[str, Any], job: JobContext) -> dict[str, Any]:
    return refine_rules(
        job.llm(),
        payload["current_rules"],
        payload["feedback"],
        job.aggregated_context(payload.get("aggregated_context")),
        max_repair_attempts=job.rt.settings.rules_max_repair_attempts,
    )


def _evaluate(payload: Mapping[str, Any], job: JobContext) -> dict[str, Any]:
    def tenant_llm() -> LLMChoice:
        config = job.config
        return LLMChoice(job.llm(), job.tenant, config.provider, config.model)

    return evaluate_condition_job(
        payload["condition"],
        payload.get("context") or {},
        llm_factory=tenant_llm if job.rt.settings.condition_llm_fallback else None,
        cache=job.rt.redis,
        cache_ttl_seconds=_CONDITION_CACHE_TTL_SECONDS,
    )


def _run_leased(task: RuntimeTask, job_id: str, tenant: str, work: JobWork) -> None:
    """Lease, start and run the job; a delivery that finds it leased does nothing. The lease is
    taken by the script that starts the job and ended by the one that stores its outcome."""
    sent = message(task.name, [job_id, tenant], {}, task.request.id, job_id)
    again = redelivered(task.request)
    with leased_job(task.rt, job_id, sent, redelivery=again) as job:
        if isinstance(job, StartedJob):
            run_job(task.rt, job, job.held.tenant_for(tenant), work)
        elif job.code == 2:
            job_already_ended(task.rt, job_id)


@app.task(name=Tasks.GENERATE, **TASK_OPTIONS)
def generate(self: RuntimeTask, job_id: str, tenant: str) -> None:
    _run_leased(self, job_id, tenant, _generate)


@app.task(name=Tasks.REFINE, **TASK_OPTIONS)
def refine(self: RuntimeTask, job_id: str, tenant: str) -> None:
    _run_leased(self, job_id, tenant, _refine)


@app.task(name=Tasks.EVALUATE, **TASK_OPTIONS)
def evaluate(self: RuntimeTask, job_id: str, tenant: str) -> None:
    _run_leased(self, job_id, tenant, _evaluate)
