"""Helpers shared by the test modules: no test module imports another (tests/test_layout.py).

- `support.db`: the databases (SQLite, a PostgreSQL schema per test, a database per xdist
  worker), the test clock and the log's origin;
- `support.domain`: the real HTTP API with one principal per role (`running_api`, `Api`);
- `support.liars`, `support.reliability`, `support.browser`: lying servers, crash and restart
  harnesses, and the headless browser;
- one module per world that several test modules share (`support.certificates`, ...).
"""
