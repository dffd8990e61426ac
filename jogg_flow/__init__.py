"""jogg-flow: declarative, resumable JoggAI promotional videos from a YAML manifest."""

__version__ = "0.2.0"
