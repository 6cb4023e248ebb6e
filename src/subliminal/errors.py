"""The error of a bad configuration, raised wherever one is found (the
config's validation, a modality reading its prompt source, a job that finds
its data short) and shown as one line that names the key."""


class ConfigError(ValueError):
    """A bad configuration; the message is one line that names the key."""
