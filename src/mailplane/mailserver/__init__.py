"""Postfix and Dovecot: configuration rendering and process control."""
