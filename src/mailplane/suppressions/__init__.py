"""Each tenant's suppression list: addresses its mail is no longer sent to."""
