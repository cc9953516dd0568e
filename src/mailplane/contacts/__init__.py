"""The addresses a mailbox user wrote to and received from, for autocomplete."""
