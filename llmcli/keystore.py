"""The OS keyring (through the `keyring` package): the only module that touches it.

Keys live under service `llmcli`, user name = the profile's name. Three things make this more than a
thin wrapper:

- Every keyring call, including `import keyring` and the backend detection (a D-Bus round trip on
  Linux), runs in a daemon thread under a timeout: a hung D-Bus or a forgotten unlock prompt can delay
  llmcli by at most that long, never hang it.
- Plain-text backends (keyrings.alt's PlaintextKeyring and the like) are refused for storing unless the
  user opted in, because a key in a plain file is exactly what the keyring is meant to avoid.
- A store is read back: a backend that accepts a key and keeps nothing (keyring's Null backend) is an
  error, not a silent success.

Nothing here prints or formats a key; errors carry the backend's reason, never the secret.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from .core.credentials import KeyLookup, remember_secret, scrub
from .errors import ExitCode, LlmcliError

T = TypeVar("T")

SERVICE = "llmcli"
TIMEOUT_ENV = "LLMCLI_KEYRING_TIMEOUT"
PLAINTEXT_ENV = "LLMCLI_ALLOW_PLAINTEXT_KEYRING"
# Reads happen on every `ask` without an env key: keep them short. login/logout may have to wait for
# the user to answer the desktop's unlock prompt, so they get longer.
READ_TIMEOUT = 5.0
INTERACTIVE_TIMEOUT = 30.0

WAYS_OUT = (
    "set LLMCLI_API_KEY in the environment instead; "
    "or start and unlock a Secret Service (a desktop session, or on a headless box: "
    "dbus-run-session + gnome-keyring-daemon --unlock, see the README's Credentials section); "
    "or pick another backend with PYTHON_KEYRING_BACKEND"
)


class KeyringProblem(LlmcliError):
    """The keyring could not be used. `reason` is one line a user can act on (never the key)."""

    exit_code = ExitCode.AUTH

    def __init__(
        self, reason: str, *, backend: str = "", hint: str | None = WAYS_OUT, message: str | None = None
    ):
        super().__init__(message or f"{keyring_label(backend)} cannot be used: {reason}", hint=hint)
        self.reason = reason
        self.backend = backend


def keyring_label(backend: str) -> str:
    """'the OS keyring (SecretService Keyring)', or without the name when it is not known."""
    return f"the OS keyring ({backend})" if backend else "the OS keyring"


# --- running a keyring call under a timeout ------------------------------------------------------


def timeout_seconds(default: float) -> float:
    raw = os.environ.get(TIMEOUT_ENV, "").strip()
    if raw:
        try:
            value = float(raw)
            if value > 0:
                return value
        except ValueError:
            pass
    return default


def _call(fn: Callable[[], T], *, timeout: float, interactive: bool = False) -> T:
    """Run fn in a daemon thread; a KeyringProblem when it raises or does not finish in time."""
    box: dict[str, Any] = {}
    done = threading.Event()

    def run() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # handed to the caller's thread
            box["error"] = exc
        finally:
            done.set()

    # daemon: a call stuck in D-Bus must not keep the process alive after main() returns.
    threading.Thread(target=run, name="llmcli-keyring", daemon=True).start()
    waited = 0.0
    if interactive and timeout > 1.0 and not done.wait(1.0):
        waited = 1.0
        _note(
            f"waiting for the OS keyring (answer its unlock prompt if one is open; "
            f"giving up after {timeout:g} s)"
        )
    if not done.wait(timeout - waited):
        raise KeyringProblem(
            f"it did not answer within {timeout:g} s (a hung D-Bus, or an unanswered unlock prompt?)"
        )
    if "error" in box:
        exc = box["error"]
        if isinstance(exc, KeyringProblem):
            raise exc
        if not isinstance(exc, Exception):
            raise exc
        raise KeyringProblem(_describe(exc)) from None
    return box["value"]


def _note(message: str) -> None:
    try:
        if sys.stderr.isatty():
            print(f"llmcli: {message}", file=sys.stderr, flush=True)
    except (OSError, ValueError):
        pass


def _describe(exc: Exception) -> str:
    """One line from a keyring exception (its text can be long and multi-line)."""
    kind = type(exc).__name__
    if kind == "NoKeyringError":
        return _describe_no_keyring()
    if kind == "KeyringLocked" or "locked" in str(exc).lower():
        return f"the keyring is locked ({_one_line(exc)})"
    if isinstance(exc, ImportError):
        name = os.environ.get("PYTHON_KEYRING_BACKEND", "")
        return f"PYTHON_KEYRING_BACKEND={name!r} cannot be loaded ({_one_line(exc)})"
    if isinstance(exc, OSError) and os.environ.get("DBUS_SESSION_BUS_ADDRESS"):
        # jeepney's socket error, with no word about what it was connecting to
        return f"cannot reach the D-Bus session bus named by DBUS_SESSION_BUS_ADDRESS ({exc.strerror or _one_line(exc)})"
    if kind == "RuntimeError":  # how keyring says a backend is not viable: its text says enough
        return _one_line(exc)
    return f"{kind}: {_one_line(exc)}"


def _one_line(exc: Exception) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    text = scrub(text)
    return text if len(text) <= 200 else text[:197] + "..."


# --- backends --------------------------------------------------------------------------------------


def _backend(spec: str | None = None) -> Any:
    """The backend recorded at login (`module.Class`), loaded by name; keyring's full discovery (every
    installed backend imported and asked for its priority) only without one, or when the user chose a
    backend in PYTHON_KEYRING_BACKEND, which keyring reads without discovering anything."""
    if spec and not os.environ.get("PYTHON_KEYRING_BACKEND"):
        from keyring.core import load_keyring

        try:
            return load_keyring(spec)
        except Exception as exc:  # uninstalled since login, or not viable here (no D-Bus, ...)
            reason = _one_line(exc) if isinstance(exc, ImportError) else _describe(exc)
            raise KeyringProblem(
                f"the backend `auth login` stored the key in ({spec}) cannot be loaded: {reason}",
                backend=spec,
            ) from None
    import keyring

    return keyring.get_keyring()


def backend_spec(kr: Any) -> str:
    """What `_backend` loads a backend by: `keyring.backends.SecretService.Keyring`."""
    return f"{type(kr).__module__}.{type(kr).__qualname__}"


def _chain(kr: Any) -> list[Any]:
    """The concrete backends behind keyring's ChainerBackend, in the order it tries them."""
    if type(kr).__name__ == "ChainerBackend":
        return list(kr.backends)
    return [kr]


def backend_name(kr: Any) -> str:
    """A backend's display name, e.g. 'SecretService Keyring' or 'file PlaintextKeyring'."""
    try:
        name = type(kr).name
    except Exception:
        name = None
    name = name if isinstance(name, str) and name else type(kr).__name__
    if type(kr).__name__ == "ChainerBackend":
        try:
            inner = ", ".join(backend_name(b) for b in kr.backends)
        except Exception:
            inner = ""
        return f"{name} [{inner}]" if inner else name
    return name


_PLAIN_WORDS = ("plaintext", "plain text", "unencrypted", "no encryption")


def is_plaintext(kr: Any) -> bool:
    """Does this backend keep secrets in clear (keyrings.alt's PlaintextKeyring and kin)?"""
    inner = getattr(kr, "_keyring", None)  # keyrings.alt's MultipartKeyringWrapper
    if inner is not None and inner is not kr and is_plaintext(inner):
        return True
    cls = type(kr)
    words = f"{cls.__module__}.{cls.__name__} {(cls.__doc__ or '').strip()}".lower()
    return any(w in words for w in _PLAIN_WORDS)


def plaintext_allowed(config_allows: bool) -> bool:
    from .core.settings import env_flag

    return config_allows or env_flag(os.environ.get(PLAINTEXT_ENV))


# --- the three operations --------------------------------------------------------------------------


def lookup(profile: str, *, backend: str | None = None, timeout: float | None = None) -> KeyLookup:
    """The profile's stored key, from `backend` (recorded at login) or, without one, from whatever
    keyring discovers; never raises (a problem comes back in KeyLookup.problem)."""

    def work() -> KeyLookup:
        kr = _backend(backend)
        for b in _chain(kr):
            try:
                key = b.get_password(SERVICE, profile)
            except Exception as exc:
                raise KeyringProblem(_describe(exc), backend=backend_name(b)) from None
            if key:
                remember_secret(key)
                return KeyLookup(key, backend_name(b))
        return KeyLookup(None, backend_name(kr))

    try:
        return _call(work, timeout=timeout or timeout_seconds(READ_TIMEOUT))
    except KeyringProblem as p:
        return KeyLookup(None, backend=p.backend, problem=p.reason)


def _usable(kr: Any, allow_plaintext: bool) -> list[Any]:
    """The backends a key may be stored in; KeyringProblem when there is none."""
    chain = _chain(kr)
    if all(type(b).__module__ == "keyring.backends.fail" for b in chain):
        raise KeyringProblem(_describe_no_keyring(), backend=backend_name(kr))
    if all(type(b).__module__ == "keyring.backends.null" for b in chain):
        # Chosen on purpose (PYTHON_KEYRING_BACKEND) to mean "no keyring here": it keeps nothing.
        raise KeyringProblem("the keyring backend in use (null) keeps nothing", backend=backend_name(kr))
    usable = [b for b in chain if allow_plaintext or not is_plaintext(b)]
    if not usable:
        names = ", ".join(backend_name(b) for b in chain)
        raise KeyringProblem(
            "it keeps keys in a plain-text file",
            message=f"refusing to store the key: the keyring backend ({names}) keeps it in a plain-text file",
            backend=names,
            hint=(
                f"to accept that, set {PLAINTEXT_ENV}=1 or put `allow_plaintext_keyring = true` "
                "in config.toml; or start and unlock a Secret Service; or set LLMCLI_API_KEY instead"
            ),
        )
    return usable


def _describe_no_keyring() -> str:
    return "no OS keyring is available on this machine (keyring found no usable backend)"


def check_usable(*, allow_plaintext: bool) -> str:
    """Before asking for a key: is there a backend it could be stored in? Its name, or KeyringProblem."""
    return _call(
        lambda: backend_name(_usable(_backend(), allow_plaintext)[0]),
        timeout=timeout_seconds(INTERACTIVE_TIMEOUT),
        interactive=True,
    )


def store(profile: str, key: str, *, allow_plaintext: bool) -> tuple[str, str]:
    """Store and read back; the backend's name and its spec (`backend_spec`, for loading it by name
    later). KeyringProblem (exit 3) when it cannot be kept safely."""
    remember_secret(key)

    def work() -> tuple[str, str]:
        kr = _backend()
        for b in _usable(kr, allow_plaintext):
            name = backend_name(b)
            try:
                b.set_password(SERVICE, profile, key)
            except NotImplementedError:  # a read-only backend in a chain: try the next, as keyring does
                continue
            except Exception as exc:
                raise KeyringProblem(_describe(exc), backend=name) from None
            try:
                back = b.get_password(SERVICE, profile)
            except Exception as exc:
                raise KeyringProblem(
                    f"the key was stored but cannot be read back: {_describe(exc)}", backend=name
                ) from None
            if back != key:
                raise KeyringProblem(
                    "it accepted the key but did not keep it (read back "
                    + ("nothing" if back is None else "a different value")
                    + "); this backend stores nothing",
                    backend=name,
                )
            return name, backend_spec(b)
        raise KeyringProblem("no backend in the chain can store keys", backend=backend_name(kr))

    return _call(work, timeout=timeout_seconds(INTERACTIVE_TIMEOUT), interactive=True)


def delete(profile: str) -> tuple[bool, str]:
    """Remove the profile's key from every backend that holds it: (removed anything?, backend name)."""

    def work() -> tuple[bool, str]:
        kr = _backend()
        removed: list[str] = []
        for b in _chain(kr):
            name = backend_name(b)
            try:
                if b.get_password(SERVICE, profile) is None:
                    continue
                b.delete_password(SERVICE, profile)
                if b.get_password(SERVICE, profile) is not None:
                    raise KeyringProblem("it still holds the key after deleting it", backend=name)
            except NotImplementedError:
                continue
            except KeyringProblem:
                raise
            except Exception as exc:
                raise KeyringProblem(_describe(exc), backend=name) from None
            removed.append(name)
        return bool(removed), ", ".join(removed) or backend_name(kr)

    return _call(work, timeout=timeout_seconds(INTERACTIVE_TIMEOUT), interactive=True)
