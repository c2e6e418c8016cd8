"""Each tenant's LLM configuration and aggregated context: the store and its sources
(the environment, or NestJS behind a Redis cache shared by every process)."""
