from pathlib import Path

# the built-in default config as a file: a test that names it loads no clawbus.yaml by chance
DEFAULT_CONFIG_FILE = str(Path(__file__).with_name("default-config.yaml"))
