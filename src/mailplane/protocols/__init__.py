"""Protocol clients (DNS today; SMTP and IMAP as sending and webmail arrive).

Protocol code knows nothing about tenants or domains as the platform models them: it
speaks the wire format and classifies failures once, as transient or permanent.
"""
