"""Outbound notifications: the webhook delivery worker."""
