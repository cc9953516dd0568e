"""The SMTP intake: Postfix hands every non-local message to mailplane's queue here, and
a milter on the submission ports checks that the header From belongs to the login."""
