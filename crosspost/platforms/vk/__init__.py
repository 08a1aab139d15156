"""VK communities: the spec (``spec.py``), the adapter (vk_api), the sandbox emulator."""
