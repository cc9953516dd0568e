"""The circuit breaker: a tenant whose hard-bounce or complaint rate is too high has its
bulk sending paused until an operator resumes it (SPEC section H)."""
