"""HTTP transports (see DESIGN.md).

httpx's package imports its own command-line client (httpx._main: click, rich.console, rich.progress,
pygments) whenever those happen to be installed, as they are beside llmcli: 50-70 ms of every run, more
than the rest of httpx together, for an `httpx` command llmcli never runs. A None entry in sys.modules
makes that one import fail the way httpx expects when they are missing (it then defines a stub
`httpx.main`); nothing else in httpx changes. It is set here, before any transport imports httpx.
"""

import sys

sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
