"""Telegram channels: the spec (``spec.py``), the adapter (Bot API over ``requests``), the sandbox emulator."""
