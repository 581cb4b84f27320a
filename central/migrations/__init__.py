"""Central's numbered migrations, the same on SQLite and PostgreSQL (see ``infra.migrations``)."""
