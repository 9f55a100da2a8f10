"""The editable Debian source package, rendered as a SourceTree rooted at <pkg>-<version>/."""

from __future__ import annotations

from tap2pkg import services
from tap2pkg.backends.debian import BASE_DEPENDS, CONVENTIONS, control, dsc, lintian, scripts
from tap2pkg.model import PackageSpec
from tap2pkg.payload import (
    SOURCE_DIR,
    deb_architecture,
    deb_depends,
    installed_dirs,
    installed_files,
    needs_distribution_twisted,
    source_lintian_overrides,
)
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
    parts = []
    if spec.summary == CONVENTIONS.summary_template.format(protocol=spec.protocol):
        parts.append(
            "# The synopsis is the original tap2deb's default wording, kept for compatibility;\n"
            "# pass --description to choose another.\n"
            "description-synopsis-starts-with-article\n"
        )
    if spec.app.content.startswith(b"#!"):
        parts.append(lintian.app_file_with_interpreter_line(spec))
    if not dsc.is_native(spec.version):
        parts.append(
            "# Packaged for the user's own repository: there is no Debian ITP bug to close.\n"
            "initial-upload-closes-no-bugs\n"
        )
    return "".join(parts) or None


def depends(spec: PackageSpec) -> list[str]:
    base = [d for d in BASE_DEPENDS
            if d != "python3-twisted" or needs_distribution_twisted(spec.payload)]
    return [*base, *deb_depends(spec.payload, spec.target.python), *spec.depends]


def source_depends(spec: PackageSpec) -> list[str]:
    """debian/control: dh_shlibdeps finds the libc a compiled bundle needs; dh_python3 (which
    byte-compiles the payload at install) acts only on a package with ${python3:Depends}."""
    found = depends(spec)
    if deb_architecture(spec.payload) != "all":
        found = [d for d in found if not d.startswith("libc6 ")] + ["${shlibs:Depends}"]
    if spec.payload is not None:
        found.append("${python3:Depends}")
    return found


def payload_install(spec: PackageSpec, tree: SourceTree) -> list[str]:
    """--include / --bundle: the installed tree kept under payload/ in the source package,
    and the debian/<pkg>.install lines that put it in place."""
    if spec.payload is None:
        return []
    for path, data, mode in installed_files(spec.name, spec.payload, spec.target.python):
        tree.add(f"{SOURCE_DIR}/{path}", data, mode)
    return [f"{SOURCE_DIR}/{d} {d.rsplit('/', 1)[0]}/\n"
            for d in installed_dirs(spec.name, spec.payload)]


def render_source(spec: PackageSpec) -> SourceTree:
    tree = SourceTree()
    name = spec.name
    tree.add(spec.app_filename, spec.app.content, 0o644)
    tree.add(
        "debian/control",
        render(
            "debian/control.j2",
            spec=spec,
            depends=source_depends(spec),
            extended_description=control.extended_description(spec.long_description),
            architecture="all" if deb_architecture(spec.payload) == "all" else "any",
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
    tree.add("debian/source/format", f"{dsc.source_format(spec.version)}\n")
    tree.add("debian/source/options", dsc.SOURCE_OPTIONS)
    source_overrides = lintian.source_overrides(spec)
    if source_overrides is not None:
        tree.add("debian/source/lintian-overrides", source_overrides)
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
        + f"{READY_SOURCE} {spec.libexec_dir.relative_to('/')}/\n"
        + "".join(payload_install(spec, tree)),
    )
    # twistd's run directory; logs go to the journal or syslog, so there is no log dir.
    tree.add(f"debian/{name}.dirs", f"{spec.state_dir.relative_to('/')}\n")
    maintscript = scripts.maintscript_file(spec)
    if maintscript is not None:
        tree.add(f"debian/{name}.maintscript", maintscript)
    payload_overrides = source_lintian_overrides(spec.payload)
    if payload_overrides is not None:
        tree.add("debian/source/lintian-overrides", payload_overrides)
    overrides = lintian_overrides(spec)
    if overrides is not None:
        tree.add(f"debian/{name}.lintian-overrides", overrides)
    for script in scripts.HAND_WRITTEN:
        tree.add(f"debian/{name}.{script}", scripts.hand_written(spec, script), 0o755)
    return tree
