"""tenant_config."""
