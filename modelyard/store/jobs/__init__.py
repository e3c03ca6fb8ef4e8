"""Storage of workflows: jobs, job runs, task runs (one row per attempt), their logs, the claim
rows that make every due time and every event fire exactly once."""
