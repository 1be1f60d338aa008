"""Use cases: build, plan, deploy, rollback, status, cleanup, evidence, demo."""
