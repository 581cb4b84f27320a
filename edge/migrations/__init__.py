"""The edge database's numbered migrations (see ``infra.migrations``)."""
