"""DKIM: key pairs and their DNS values, the rotation life cycle, and signing."""
