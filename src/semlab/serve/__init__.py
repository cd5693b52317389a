"""The local web app: FastAPI backend and its static front end over the same public API."""
