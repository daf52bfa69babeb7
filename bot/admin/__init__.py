"""The read-only admin web page (`pilote-ia admin`): figures, charts and the Starlette app."""
