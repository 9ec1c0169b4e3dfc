"""Is the server well (health checks), and what is it doing (Prometheus metrics → snapshot → rates).

No drawing here (render/ does that) and no Typer (cli/ does that): plain functions and data.
"""
