"""Signed webhooks (Standard Webhooks): endpoints, event emission, the dispatcher."""
