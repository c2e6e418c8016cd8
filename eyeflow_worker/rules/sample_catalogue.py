"""The built-in capability catalogue used when a job carries no aggregated context.

It mirrors what the NestJS `/aggregated` endpoint sends for an infrastructure-monitoring
tenant, so a fresh checkout (no NestJS, offline provider) still drafts meaningful rules.
Callers get a deep copy; nobody can mutate the shared one.
"""

from __future__ import annotations

import copy
from typing import Any


def _var(name: str, type_: str, description: str, enum: list[str] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"name": name, "type": type_, "description": description}
    if enum:
        spec["enum"] = enum
    return spec


_SAMPLE: dict[str, Any] = {
    "condition_types": [
        {"type": "THRESHOLD", "description": "A numeric metric compared with a limit."},
        {"type": "EQUALS", "description": "A value equal (==) or not equal (!=) to another."},
        {"type": "STATUS", "description": "A service or host status such as 'down'."},
        {"type": "COMPOSITE", "description": "Conditions combined with AND, OR and NOT."},
    ],
    "action_types": [
        {
            "type": "SEND_NOTIFICATION",
            "description": "Notify a team or person on a channel (email, slack, sms).",
            "category": "notification",
            "parameters": {
                "type": "object",
                "properties": {
                    "channel": {"type": "string", "enum": ["email", "slack", "sms"]},
                    "recipient": {"type": "string", "description": "Team, person or address."},
                    "message": {"type": "string"},
                },
                "required": ["channel", "recipient", "message"],
                "additionalProperties": False,
            },
        },
        {
            "type": "SEND_WITH_ESCALATION",
            "description": "Alert the on-call team and escalate if nobody acknowledges.",
            "category": "notification",
            "parameters": {
                "type": "object",
                "properties": {
                    "team": {"type": "string"},
                    "message": {"type": "string"},
                    "severity": {"type": "string", "enum": ["low", "medium", "high", "critical"]},
                    "escalate_after_minutes": {"type": "integer"},
                },
                "required": ["team", "message", "severity"],
                "additionalProperties": False,
            },
        },
        {
            "type": "CREATE_INCIDENT",
            "description": "Open an incident ticket in the incident tracker.",
            "category": "ticketing",
            "parameters": {
                "type": "object",
                "properties": {
                    "title": {"type": "string"},
                    "priority": {"type": "string", "enum": ["P1", "P2", "P3", "P4"]},
                    "service": {"type": "string"},
                },
                "required": ["title", "priority"],
                "additionalProperties": False,
            },
        },
        {
            "type": "RESTART_SERVICE",
            "description": "Restart a service or container.",
            "category": "remediation",
            "parameters": {
                "type": "object",
                "properties": {
                    "service": {"type": "string"},
                    "graceful": {"type": "boolean"},
                },
                "required": ["service"],
                "additionalProperties": False,
            },
        },
        {
            "type": "SCALE_SERVICE",
            "description": "Change the number of replicas of a service (scale up or down).",
            "category": "remediation",
            "parameters": {
                "type": "object",
                "properties": {
                    "service": {"type": "string"},
                    "replicas": {"type": "integer"},
                },
                "required": ["service", "replicas"],
                "additionalProperties": False,
            },
        },
        {
            "type": "BLOCK_IP",
            "description": "Block an IP address at the firewall after suspicious activity.",
            "category": "security",
            "parameters": {
                "type": "object",
                "properties": {
                    "ip": {"type": "string"},
                    "duration_minutes": {"type": "integer"},
                },
                "required": ["ip", "duration_minutes"],
                "additionalProperties": False,
            },
        },
        {
            "type": "LOG_EVENT",
            "description": "Write an entry to the audit log.",
            "category": "audit",
            "parameters": {
                "type": "object",
                "properties": {
                    "message": {"type": "string"},
                    "level": {"type": "string", "enum": ["info", "warning", "error"]},
                },
                "required": ["message"],
                "additionalProperties": False,
            },
        },
    ],
    "triggers": [
        {"type": "ON_WORKFLOW_START", "description": "Run once when the workflow is started."},
        {"type": "ON_METRIC_UPDATE", "description": "Run every time new metrics arrive."},
        {"type": "ON_SCHEDULE", "description": "Run on a fixed schedule (cron)."},
        {
            "type": "ON_SECURITY_EVENT",
            "description": "Run when a security event (login, firewall) is recorded.",
        },
    ],
    "variables": [
        _var("$metrics.cpu_percent", "number", "Host CPU usage in percent."),
        _var("$metrics.memory_percent", "number", "Host memory usage in percent."),
        _var("$metrics.db_memory_percent", "number", "Database memory usage in percent."),
        _var("$metrics.db_connections", "number", "Open database connections."),
        _var("$metrics.disk_percent", "number", "Disk usage in percent."),
        _var("$metrics.response_time_ms", "number", "API response time (latency) in ms."),
        _var("$metrics.error_rate_percent", "number", "Share of failed requests in percent."),
        _var("$metrics.queue_depth", "number", "Messages waiting in the job queue."),
        _var("$security.failed_logins", "number", "Failed login attempts in the last 5 minutes."),
        _var("$security.source_ip", "string", "IP address the security event came from."),
        _var("$service.name", "string", "Name of the monitored service."),
        _var("$service.status", "string", "Service health status.", ["up", "down", "degraded"]),
    ],
}


def sample_catalogue() -> dict[str, Any]:
    """A fresh copy of the built-in infrastructure-monitoring catalogue (raw NestJS shape)."""
    return copy.deepcopy(_SAMPLE)
