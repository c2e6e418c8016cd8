"""Workflow rules: schema, capability catalogue, prompt, extraction, validation, repair, diff.

Celery tasks call `eyeflow_worker.rules.service.generate_rules` / `refine_rules`; the other
modules are the pieces those two functions are made of.
"""
