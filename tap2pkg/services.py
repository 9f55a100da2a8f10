"""The service files both backends ship, rendered from one PackageSpec: the defaults file
(variables only), the systemd unit, and the init script.  Each backend says only where
things live on its distributions (Layout)."""

from __future__ import annotations

from dataclasses import dataclass

from tap2pkg.model import PackageSpec
from tap2pkg.render import render


@dataclass(frozen=True)
class Layout:
    """Where a distribution family keeps what the service files refer to."""

    defaults_dir: str  # /etc/default (Debian), /etc/sysconfig (RPM distributions)
    initd_dir: str  # /etc/init.d, /etc/rc.d/init.d
    init_template: str  # service/init.debian.j2, service/init.redhat.j2

    def defaults_path(self, spec: PackageSpec) -> str:
        return f"{self.defaults_dir}/{spec.name}"


def defaults_file(spec: PackageSpec, layout: Layout) -> str:
    readers = " and ".join(
        what
        for what, wanted in (
            (f"{layout.initd_dir}/{spec.name}", spec.sysv),
            (f"{spec.name}.service", spec.systemd),
        )
        if wanted
    )
    return render("service/defaults.j2", spec=spec, readers=readers)


def unit_file(spec: PackageSpec, layout: Layout) -> str:
    return render("service/unit.service.j2", spec=spec, defaults_path=layout.defaults_path(spec))


def init_script(spec: PackageSpec, layout: Layout) -> str:
    return render(layout.init_template, spec=spec, defaults_path=layout.defaults_path(spec))
