"""Principals and how they prove who they are: service tokens, tenant admins, JWTs."""
