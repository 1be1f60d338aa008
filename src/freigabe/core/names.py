"""Names the command line needs before anything else is loaded (kept import-free so `--help` is fast)."""

CONFIG_NAME = "freigabe.toml"
ABORT_PHRASE = "ABBRECHEN"  # typed instead of an approval phrase: cancel, recorded as refused
