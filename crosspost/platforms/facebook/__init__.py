"""Facebook Pages: the spec (``spec.py``), the adapter (facebook-sdk), the sandbox emulator."""
