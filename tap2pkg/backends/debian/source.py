"""The editable Debian source package, rendered as a SourceTree rooted at <pkg>-<version>/."""

from __future__ import annotations

from tap2pkg import services
from tap2pkg.backends.debian import BASE_DEPENDS, CONVENTIONS, control, scripts
from tap2pkg.model import PackageSpec
from tap2pkg.render import render
from tap2pkg.services import Layout
from tap2pkg.tree import SourceTree

READY_SOURCE = "libexec/ready"  # where the source package keeps the readiness check
LAYOUT = Layout(defaults_dir="/etc/default", initd_dir="/etc/init.d",
                init_template="service/init.debian.j2")


def service_files(spec: PackageSpec) -> dict[str, tuple[str, int]]:
    """Files shared by the source package and the .deb: suffix -> (text, mode)."""
    files = {"default": (services.defaults_file(spec, LAYOUT), 0o644)}
    if spec.systemd:
        files["service"] = (services.unit_file(spec, LAYOUT), 0o644)
    if spec.sysv:
        files["init"] = (services.init_script(spec, LAYOUT), 0o755)
    return files


def lintian_overrides(spec: PackageSpec) -> str | None:
    """Overrides, each with its reason; None when none is needed."""
    if spec.summary != CONVENTIONS.summary_template.format(protocol=spec.protocol):
        return None
    return (
        "# The synopsis is the original tap2deb's default wording, kept for compatibility;\n"
        "# pass --description to choose another.\n"
        "description-synopsis-starts-with-article\n"
    )


def depends(spec: PackageSpec) -> list[str]:
    return [*BASE_DEPENDS, *spec.depends]


def render_source(spec: PackageSpec) -> SourceTree:
    tree = SourceTree()
    name = spec.name
    tree.add(spec.app_filename, spec.app.content, 0o644)
    tree.add(
        "debian/control",
        render(
            "debian/control.j2",
            spec=spec,
            depends=depends(spec),
            extended_description=control.extended_description(spec.long_description),
        ),
    )
    tree.add("debian/rules", render("debian/rules"), 0o755)
    tree.add("debian/changelog", control.changelog(spec))
    license_name, license_lines = control.license_text(spec)
    tree.add(
        "debian/copyright",
        render(
            "debian/copyright.j2",
            spec=spec,
            year=control.copyright_year(spec),
            license_name=license_name,
            license_text=license_lines,
        ),
    )
    tree.add("debian/source/format", "3.0 (native)\n")
    for suffix, (text, mode) in service_files(spec).items():
        tree.add(f"debian/{name}.{suffix}", text, mode)
    installed = [spec.app_filename]
    if spec.app.original is not None:
        original_name, original_data = spec.app.original
        tree.add(original_name, original_data, 0o644)
        installed.append(original_name)
    conf_dir = spec.conf_dir.relative_to("/")
    # The readiness check the unit and the init script run (no app file name has a "/").
    tree.add(READY_SOURCE, services.ready_script(spec), 0o755)
    tree.add(
        f"debian/{name}.install",
        "".join(f"{f} {conf_dir}/\n" for f in installed)
        + f"{READY_SOURCE} {spec.libexec_dir.relative_to('/')}/\n",
    )
    # twistd's run directory; logs go to the journal or syslog, so there is no log dir.
    tree.add(f"debian/{name}.dirs", f"{spec.state_dir.relative_to('/')}\n")
    maintscript = scripts.maintscript_file(spec)
    if maintscript is not None:
        tree.add(f"debian/{name}.maintscript", maintscript)
    overrides = lintian_overrides(spec)
    if overrides is not None:
        tree.add(f"debian/{name}.lintian-overrides", overrides)
    for script in scripts.HAND_WRITTEN:
        tree.add(f"debian/{name}.{script}", scripts.hand_written(spec, script), 0o755)
    return tree
