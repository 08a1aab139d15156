"""X (Twitter): the spec (``spec.py``), the adapter (tweepy), the sandbox emulator."""
