"""Conversation history in SQLite (stdlib sqlite3): the only package that speaks SQL.

- `db`: opening the file (private from the start, WAL, busy timeout, corrupt files moved aside),
  write transactions that a signal cannot cut in half, and the migration runner.
- `migrations`: the ordered schema changes.
- `history`: the Store API the commands and the REPL use (see its docstring).
- `recorder`: keeping one exchange for `ask`/the REPL, where a history problem is a warning, not a
  failed answer.

Importing this package imports nothing heavy; `sqlite3` is loaded by `db`, `history` and `recorder`.
"""
