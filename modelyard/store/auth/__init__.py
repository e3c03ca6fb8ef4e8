"""The identity store: users, API tokens, permission grants and the audit log, in SQL."""
