"""Package-format backends.  Each maps the format-neutral PackageSpec to its own files;
import only the one a command needs (the RPM code never loads on the Debian path)."""
