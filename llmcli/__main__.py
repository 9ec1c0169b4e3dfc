"""The entry point and the one error boundary: every failure becomes a message and an exit code."""

from __future__ import annotations

import os
import sys

REPORT_URL = "https://github.com/llmcli/llmcli/issues"


def _debug_requested(state) -> bool:
    """--debug as Click read it (the option callbacks note it in the run's state), or LLMCLI_DEBUG=1."""
    from .core.settings import env_flag

    return bool(getattr(state, "debug", False)) or env_flag(os.environ.get("LLMCLI_DEBUG"))


def _say(text: str) -> None:
    from .core.credentials import scrub

    try:
        print(scrub(text), file=sys.stderr, flush=True)
    except (OSError, ValueError):
        pass


def _quiet_stdout() -> None:
    """After a closed pipe, point stdout at /dev/null so the interpreter's final flush stays silent."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def _usage_error(exc) -> None:
    """The parser's usage errors as one line, like every other llmcli error; bare commands show their help."""
    try:
        if type(exc).__name__ == "NoArgsIsHelpError":
            exc.show()
            return
        ctx = getattr(exc, "ctx", None)
        where = ctx.command_path if ctx is not None else "llmcli"
        message = " ".join(exc.format_message().split())
        _say(f"llmcli: error: {message} — see '{where} --help'")
    except (OSError, ValueError):
        pass


def _internal_error(exc: BaseException, debug: bool) -> int:
    from .errors import ExitCode

    if debug:
        import traceback

        _say(traceback.format_exc().rstrip())
    _say(
        f"llmcli: internal error: {type(exc).__name__}: {exc} — this is a bug in llmcli; "
        f"please report it with the output of the same command with --debug at {REPORT_URL}"
    )
    return ExitCode.INTERNAL


VERSION_ONLY = (["--version"], ["-V"])


def _version() -> int:
    """`llmcli --version` answered before the CLI tree is built (Click gives the same answer to it)."""
    from . import __version__

    try:
        sys.stdout.write(f"llmcli {__version__}\n")
        sys.stdout.flush()
    except BrokenPipeError:
        _quiet_stdout()
        return 141
    except OSError as exc:
        _say(f"llmcli: error: cannot write to stdout: {exc.strerror or exc} — check the output redirection")
        return 1
    return 0


def run(argv: list[str]) -> int:
    if argv in VERSION_ONLY:
        return _version()
    # `import httpx` also imports httpx's own command-line tool (httpx._main: click, rich.progress,
    # pygments lexers; ~0.1-0.2 s) whenever click happens to be installed. llmcli never runs it, and
    # httpx falls back to a stub when it cannot be imported.
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
    from .core.credentials import remember_secret
    from .errors import ExitCode, Interrupted, LlmcliError, OutputClosed

    for name in ("LLMCLI_API_KEY", "OPENAI_API_KEY"):
        remember_secret(os.environ.get(name, "").strip())
    from . import interrupts

    interrupts.install()  # Ctrl-C and SIGTERM: stop cleanly, a second one exits at once
    state = None
    try:
        from typer.main import get_command

        from .cli.app import build_app, command_named
        from .cli.options import RunState
        from .core.utf8 import check_arguments, check_environment

        state = RunState()
        instruction = os.environ.get("_LLMCLI_COMPLETE")
        # Only the command this run names is built (the whole tree for completion, the root's --help or
        # a name Click should call unknown, with its suggestions).
        command = get_command(build_app(None if instruction else command_named(argv)))
        if instruction:  # the shell asks for completions (cli/completion.py): answer, run nothing
            from .cli.completion import respond

            return respond(command, instruction)
        check_environment(os.environ)
        check_arguments(argv, _value_options(command))
        rv = command.main(args=argv, prog_name="llmcli", standalone_mode=False, obj=state)
        return rv if isinstance(rv, int) else 0
    except OutputClosed:
        _quiet_stdout()
        return ExitCode.SIGPIPE
    except BrokenPipeError:
        _quiet_stdout()
        return ExitCode.SIGPIPE
    except Interrupted as exc:
        return exc.exit_code
    except KeyboardInterrupt:
        return interrupts.exit_code(ExitCode.SIGINT)
    except LlmcliError as exc:
        if _debug_requested(state):
            import traceback

            _say(traceback.format_exc().rstrip())
        line = f"llmcli: error: {exc.message}"
        if exc.hint:
            line += f" — {exc.hint}"
        _say(line)
        return int(exc.exit_code)
    except OSError as exc:
        if not isinstance(sys.stdout, _ClosedStdout):
            return _internal_error(exc, _debug_requested(state))
        _say(
            "llmcli: error: cannot write to stdout: stdout is closed — run it with stdout open or redirected"
        )
        return ExitCode.INTERNAL
    except Exception as exc:
        if isinstance(exc.__cause__, KeyboardInterrupt):  # the CLI parser turned a signal into "Abort"
            return interrupts.exit_code(ExitCode.SIGINT)
        if hasattr(exc, "exit_code") and hasattr(exc, "format_message"):  # the CLI parser's usage errors
            _usage_error(exc)
            return int(exc.exit_code)  # type: ignore[attr-defined]
        return _internal_error(exc, _debug_requested(state))


def _value_options(command) -> set[str]:
    """Every option name in the command tree that takes a value (`-m`, `--stop`, ...)."""
    names: set[str] = set()
    todo = [command]
    while todo:
        cmd = todo.pop()
        for param in getattr(cmd, "params", ()):
            if getattr(param, "param_type_name", "") == "option" and not getattr(param, "is_flag", False):
                names.update(param.opts)
        todo.extend(getattr(cmd, "commands", {}).values())
    return names


class _ClosedStdout:
    """Stands in for stdout when the process was started with it closed (`llmcli ask hi >&-`): every
    write fails like a write to a bad descriptor, so it is reported as output that could not be written."""

    def __init__(self) -> None:
        self.buffer = self

    def write(self, data) -> int:
        import errno

        raise OSError(errno.EBADF, "stdout is closed")

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        import io

        raise io.UnsupportedOperation("stdout is closed")


def main() -> None:
    if sys.stdout is None:
        sys.stdout = _ClosedStdout()  # type: ignore[assignment]
    if sys.argv[1:] in VERSION_ONLY:
        sys.exit(_version())
    from . import interrupts

    try:
        code = run(sys.argv[1:])
    except KeyboardInterrupt:  # a signal landed while an error was being reported
        code = interrupts.exit_code()
    interrupts.hold()  # from here to exit a signal no longer raises (a second one still exits at once)
    try:
        sys.stdout.flush()
    except (BrokenPipeError, OSError):
        _quiet_stdout()
        if code == 0:
            code = 141
    sys.exit(code)


if __name__ == "__main__":
    main()
