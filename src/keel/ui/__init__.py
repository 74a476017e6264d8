"""The team view: every system's score, trend and evidence in one self-hosted web app.

`keel score --publish URL` and `keel monitor --publish URL` send a run's report.json (plus the
system, commit, registry version, team and owner it covers) to a `keel ui` server, which keeps
them in a database (SQLite by default, PostgreSQL for teams) and shows them as server-side HTML
pages: all systems, one system over time, one run's evidence, one practice across systems.

    db.py          the tables (SQLAlchemy Core) and opening a database by URL
    migrate.py     Alembic migrations, applied programmatically (migrations/versions/)
    tokens.py      access tokens: created, stored hashed, checked, revoked; their roles
    payload.py     what a publisher sends, validated against report.schema.json (client side
                   builds it, server side checks it)
    store.py       writing a published report (one transaction) and the small queries pages use
    views.py       the pages' data: overview, one system, one run, one practice
    charts.py      sparklines and history charts as inline SVG (keel.report.svg / lines)
    auth.py        bearer tokens for the API, an HttpOnly cookie for browsers; roles
    app.py         the FastAPI app factory `create_app(db_url)`
    publish.py     the client: POST with a bearer token, an outbox when the server is down
"""
