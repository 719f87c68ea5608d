"""Who may do what: users, roles and permissions, sessions, API keys, PII masking, audit."""
