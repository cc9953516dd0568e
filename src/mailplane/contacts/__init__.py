"""The addresses a mailbox user wrote to and received from, for autocomplete.

``record`` (service.py) is the one way in for every producer: see its docstring."""

from mailplane.contacts.service import Direction, record

__all__ = ["Direction", "record"]
