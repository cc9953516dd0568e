"""The webmail API (SPEC section F): mailbox users read and write their mail over HTTP; the
API speaks IMAP to the managed Dovecot as the user (pool.py) and sends through Postfix."""
