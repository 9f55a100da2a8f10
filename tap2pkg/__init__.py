"""tap2pkg: turn a Twisted application file into Debian and RPM service packages."""

__version__ = "0.1.0"
