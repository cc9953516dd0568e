"""The send API and the one function every outbound message enters the queue through."""
