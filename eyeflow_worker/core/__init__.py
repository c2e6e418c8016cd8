"""What both sides (gateway and workers) stand on: settings, errors, job records and their Lua
transitions, the routing table, the task-object model, the job deadline, the tenant-config value
types, the LLM request/response protocol and the Redis/Celery factories.

Nothing here imports another `eyeflow_worker` package (an import-linter contract holds it)."""
