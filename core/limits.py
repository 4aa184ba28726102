"""Bounds on values clients send, shared by every app's serializers."""

# The largest id a row can have (a 64-bit primary key). An id filter past it is a 400:
# SQLite and PostgreSQL cannot even bind it, which made a 500 of a client's typo.
MAX_ID = 2**63 - 1
