"""`s`: a shell on a node. The app is suspended, `ssh` runs in the terminal with the node's settings
(console/transport/ssh_argv.py), and the same screen comes back when the shell ends.

The event loop waits while the shell runs (Textual's suspend: its output must not touch the terminal, and a
loop left running would queue frames a stopped writer never drains). Polls resume when it returns: the
screen catches up and the nodes it shows are polled again.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from textual.app import SuspendNotSupported

from console.model.inventory import Node
from console.text import clean_line
from console.transport.ssh_argv import ShellRefused, local_shell_argv, prepared

if TYPE_CHECKING:
    from screens.base import ConsoleScreen


@contextlib.contextmanager
def _parent_ignores_interrupts() -> Iterator[None]:
    """Ctrl+C and Ctrl+\\ while ssh connects reach every process of the terminal's foreground group, us too:
    a handler that does nothing keeps the console alive, and (unlike SIG_IGN) is not inherited by ssh."""
    saved: list[tuple[signal.Signals, signal._HANDLER]] = []
    try:
        for interrupt in (signal.SIGINT, signal.SIGQUIT):
            saved.append((interrupt, signal.signal(interrupt, lambda *_: None)))
    except ValueError:  # not the main thread: nothing to guard
        pass
    try:
        yield
    finally:
        for interrupt, handler in saved:
            signal.signal(interrupt, handler)


SSH_FAILED = (
    255  # ssh's own failure (a refused host key, no route, auth); a shell's exit is its last command's
)


def _run(argv: list[str], banner: str) -> int:
    sys.stdout.write(f"\n{banner}\n")
    sys.stdout.flush()
    with _parent_ignores_interrupts():
        status = subprocess.run(argv, check=False).returncode
        if status == SSH_FAILED:
            # Why is on the terminal now (ssh's own words): the console's screen would cover it at once.
            sys.stdout.write("\nopsconsole: ssh failed (above). Enter returns to the console.")
            sys.stdout.flush()
            sys.stdin.readline()
    return status


def open_shell(screen: ConsoleScreen, node: Node) -> None:
    """Run a shell on `node` in the terminal and come back to `screen`; what went wrong is a notification."""
    app = screen.ops_app
    name = clean_line(node.name)
    if node.name not in app.session.transports:  # the demo's recorded fleet: its hosts are not ours
        app.notify(
            f"no live connection to {name} (recorded data): no shell", severity="warning", markup=False
        )
        return
    local = node.transport == "local"
    what = "ssh" if not local else "shell"
    argv = ["ssh"]
    suspended = False
    try:
        with contextlib.ExitStack() as stack:
            if local:
                argv = local_shell_argv()
            else:
                argv = stack.enter_context(
                    prepared(node, {known.name: known for known in app.inventory.nodes})
                )
            where = "a local shell" if local else f"ssh to {name} ({clean_line(node.host)})"
            banner = f"opsconsole: {where}; exit it to come back to the console"
            with app.suspend():
                suspended = True
                status = _run(argv, banner)
    except ShellRefused as exc:
        app.notify(clean_line(str(exc)), title="No shell", severity="error", markup=False)
        return
    except SuspendNotSupported:
        app.notify("this terminal cannot hand over to a shell", title="No shell", severity="error")
        return
    except OSError as exc:  # ssh (or the shell) not found, not executable
        app.notify(clean_line(f"{argv[0]}: {exc.strerror}"), title="No shell", severity="error", markup=False)
        return
    finally:
        if suspended:
            _after_the_shell(screen)
    if status != 0:
        app.notify(_ended(what if not local else "the local shell", name, status), **_severity(status))


def _after_the_shell(screen: ConsoleScreen) -> None:
    """The loop stood still while the shell ran, so a poll that was in flight has outlived its deadlines
    with no fault of the node's: it is cancelled (a cancelled poll records nothing) and asked again, and so
    is the screen's own query (the fleet's Prometheus), instead of showing timeouts nobody had."""
    app = screen.ops_app
    stale = [name for name in app.nodes if app.in_flight(name)]
    for name in stale:
        app.cancel_poll(name)

    def poll_again() -> None:
        for name in stale:
            app.poll_node(name)

    if stale:
        app.set_timer(0.01, poll_again)  # once the cancelled polls have let their nodes go
    screen.refresh_now()
    screen.catch_up()
    app.wake_polls()


def _ended(what: str, name: str, status: int) -> str:
    """'ssh to gpu1 ended with status 255', '... ended by SIGINT' (a negative status: the signal)."""
    if status < 0:
        try:
            how = f"by {signal.Signals(-status).name}"
        except ValueError:
            how = f"by signal {-status}"
    else:
        how = f"with status {status}"
    return f"{what} to {name} ended {how}" if what == "ssh" else f"{what} ended {how}"


def _severity(status: int) -> dict[str, Any]:
    return {"severity": "error" if status == SSH_FAILED else "warning", "timeout": 6, "markup": False}
