"""The service files both backends ship, rendered from one PackageSpec: the defaults file
(the admin's: TWISTD_OPTS and commented overrides), the systemd unit, the init script, and
the readiness check both run after twistd starts.  Each backend says only where things
live on its distributions (Layout)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from tap2pkg.model import PackageSpec
from tap2pkg.render import render

# Start-up bounds.  A start counts as done once twistd listens on the ports read from the
# app file (checked by the ready script for READY_SECONDS); systemd gives the whole start
# TIMEOUT_START_SEC.  A service that keeps failing is restarted every RESTART_SEC until
# START_LIMIT_BURST starts fall inside START_LIMIT_INTERVAL_SEC, then ends "failed": the
# interval is longer than BURST slowest failing starts, so no broken app loops forever.
READY_SECONDS = 25
TIMEOUT_START_SEC = 30
RESTART_SEC = 5
START_LIMIT_BURST = 5
START_LIMIT_INTERVAL_SEC = 200
assert START_LIMIT_BURST * (TIMEOUT_START_SEC + RESTART_SEC) < START_LIMIT_INTERVAL_SEC  # noqa: S101

# Listener types whose ports the ready script can see: strports type -> /proc/net table.
_PORT_TABLES = {"tcp": "tcp", "tcp6": "tcp", "ssl": "tcp", "tls": "tcp", "udp": "udp"}
# A word that means the same to systemd (no specifier, variable, quote, escape or space)
# and to the shell: every value tap2pkg puts in a unit is validated to this already.
_UNIT_WORD = re.compile(r"[A-Za-z0-9_./:=@+-]+")


@dataclass(frozen=True)
class Layout:
    """Where a distribution family keeps what the service files refer to."""

    defaults_dir: str  # /etc/default (Debian), /etc/sysconfig (RPM distributions)
    initd_dir: str  # /etc/init.d, /etc/rc.d/init.d
    init_template: str  # service/init.debian.j2, service/init.redhat.j2

    def defaults_path(self, spec: PackageSpec) -> str:
        return f"{self.defaults_dir}/{spec.name}"


def ready_ports(spec: PackageSpec) -> tuple[str, ...]:
    """The ports the app file was seen to listen on, as the ready script takes them
    ("tcp/8080", "udp/53"); endpoints it cannot check (UNIX sockets, port 0, anything
    not a plain number) are left out."""
    ports: dict[str, None] = {}
    for endpoint in spec.app.endpoints:
        kind, _, rest = endpoint.partition(":")
        table = _PORT_TABLES.get(kind.lower())
        if table is None:
            continue
        args = rest.split(":")
        given = [a.partition("=")[2] for a in args if a.startswith("port=")]
        port = given[0] if given else (args[0] if args and "=" not in args[0] else "")
        if port.isascii() and port.isdigit() and 0 < int(port) <= 65535:
            ports[f"{table}/{int(port)}"] = None
    return tuple(ports)


def unit_word(value: object) -> str:
    """A value placed in a unit as one word; anything systemd would read otherwise
    (%, $, quotes, backslashes, spaces) is refused rather than escaped."""
    text = str(value)
    if not _UNIT_WORD.fullmatch(text):
        raise ValueError(f"refusing {text!r} as a word of a systemd unit")
    return text


def _context(spec: PackageSpec, layout: Layout) -> dict[str, object]:
    return {
        "spec": spec,
        "defaults_path": layout.defaults_path(spec),
        "initd_path": f"{layout.initd_dir}/{spec.name}",
        "ports": ready_ports(spec),
        "ready_seconds": READY_SECONDS,
    }


def defaults_file(spec: PackageSpec, layout: Layout) -> str:
    readers = " and ".join(
        what
        for what, wanted in (
            (f"{layout.initd_dir}/{spec.name}", spec.sysv),
            (f"{spec.name}.service", spec.systemd),
        )
        if wanted
    )
    return render("service/defaults.j2", readers=readers, **_context(spec, layout))


def unit_file(spec: PackageSpec, layout: Layout) -> str:
    words = {
        key: unit_word(value)
        for key, value in {
            "name": spec.name,
            "user": spec.user,
            "group": spec.group,
            "twistd": spec.twistd,
            "app_path": spec.app_path,
            "state_dir": spec.state_dir,
            "ready": spec.ready_path,
            "defaults": layout.defaults_path(spec),
            "option": spec.twistd_option,
        }.items()
    }
    return render(
        "service/unit.service.j2",
        words=words,
        port_words=[unit_word(port) for port in ready_ports(spec)],
        timeout_start=TIMEOUT_START_SEC,
        restart_sec=RESTART_SEC,
        burst=START_LIMIT_BURST,
        interval=START_LIMIT_INTERVAL_SEC,
        **_context(spec, layout),
    )


def init_script(spec: PackageSpec, layout: Layout) -> str:
    return render(layout.init_template, **_context(spec, layout))


def ready_script(spec: PackageSpec) -> str:
    """The readiness check, installed 0755 at spec.ready_path by both backends."""
    return render("service/ready.j2", spec=spec)
