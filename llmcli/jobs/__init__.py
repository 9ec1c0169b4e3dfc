"""Resource APIs: files, batches and fine-tuning jobs through the openai SDK, polling, data checks.

`client.py` imports the openai SDK (~1 s): import it only where a command talks to the server.
`ftdata.py`, `tokens.py`, `poll.py` and `stats.py` import nothing heavy.
"""
