"""The operational store: mutable, transactional records in SQLite or PostgreSQL."""
